"""apply(Plan) -> events: walk the plan's dependency graph with bounded parallelism.

The order comes from iacorch.dag. A failed step skips only what depends on it; independent work goes on, and
the error names the address. Steps are idempotent, so rerunning apply after
a failure or a crash converges.
"""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable

from iacorch.errors import IacorchError
from iacorch.plan import Action, Plan
from iacorch.dag import graph, steps_of
from iacorch.addresses import group_of
from iacorch.provider import IdMap, Step
from iacorch.report import Reporter

StepFn = Callable[[Step, IdMap], "str | None"]
Key = tuple[str, str]


@dataclass
class Outcome:
    done: list[Step] = field(default_factory=list)
    failed: list[tuple[Step, str]] = field(default_factory=list)
    skipped: list[tuple[Step, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped


def execute(plan: Plan, run: StepFn, ids: IdMap, reporter: Reporter, *, parallelism: int = 10,
            kinds=None) -> Outcome:
    steps = steps_of(plan.actionable)
    waits = graph(plan.actionable, group_of, kinds)
    users: dict[Key, list[Key]] = {}
    for k, deps in waits.items():
        for d in deps:
            users.setdefault(d, []).append(k)
    remaining = {k: set(v) for k, v in waits.items()}
    outcome = Outcome()
    blocked: dict[Key, str] = {}
    running: dict[Future, tuple[Key, float]] = {}

    def submit_ready(pool: ThreadPoolExecutor) -> None:
        for key in sorted(k for k, deps in remaining.items() if not deps and k not in blocked):
            del remaining[key]
            step = steps[key]
            reporter.started(str(step))
            running[pool.submit(_run_one, run, step, ids)] = (key, time.monotonic())

    def block(key: Key, why: str) -> None:
        for user in users.get(key, ()):
            if user in remaining and user not in blocked:
                blocked[user] = why
                block(user, why)

    with ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="apply") as pool:
        submit_ready(pool)
        while running:
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in finished:
                key, started = running.pop(fut)
                step = steps[key]
                error = fut.result()
                if error is None:
                    outcome.done.append(step)
                    reporter.finished(str(step), time.monotonic() - started)
                    for user in users.get(key, ()):
                        if user in remaining:
                            remaining[user].discard(key)
                else:
                    outcome.failed.append((step, error))
                    reporter.failed(str(step), error)
                    block(key, f"{step} failed")
            submit_ready(pool)
    for key, why in sorted(blocked.items()):
        outcome.skipped.append((steps[key], why))
        reporter.skipped(str(steps[key]), why)
    return outcome


def _run_one(run: StepFn, step: Step, ids: IdMap) -> str | None:
    """Run a step; return None on success or the user-facing error text."""
    try:
        new_id = run(step, ids)
        if step.op == "create":
            ids.set(step.change.address, new_id)
        elif step.op == "delete" and step.change.action is Action.DELETE:
            ids.set(step.change.address, None)
        return None
    except IacorchError as exc:
        text = str(exc)
        return text if step.change.address in text else f"{step.change.address}: {text}"
    except Exception as exc:  # a bug in iacorch, not the user's input: still name the address
        return f"{step.change.address}: internal error: {type(exc).__name__}: {exc}"
