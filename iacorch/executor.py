"""apply(Plan) -> events: walk the plan's dependency graph with bounded parallelism.

A REPLACE becomes two steps (create and delete) ordered by the resource's
replacement strategy. Deletes wait for everything that still refers to the
old resource. Rolling batches wait for the previous batch of their group.
A failed step skips only what depends on it; independent work goes on, and
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
from iacorch.planner import parse_instance_address
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


def steps_of(plan: Plan) -> dict[Key, Step]:
    steps: dict[Key, Step] = {}
    for c in plan.actionable:
        if c.action is Action.CREATE:
            ops = ["create"]
        elif c.action is Action.UPDATE:
            ops = ["update"]
        elif c.action is Action.DELETE:
            ops = ["delete"]
        else:
            ops = ["create", "delete"]
        for op in ops:
            step = Step(op, c)  # type: ignore[arg-type]
            steps[step.key] = step
    return steps


def graph(plan: Plan) -> dict[Key, set[Key]]:
    """For each step, the steps it waits for."""
    steps = steps_of(plan)
    waits: dict[Key, set[Key]] = {k: set() for k in steps}
    changes = {c.address: c for c in plan.actionable}
    for c in plan.actionable:
        a = c.address
        if (a, "create") in steps or (a, "update") in steps:
            mine = (a, "create") if (a, "create") in steps else (a, "update")
            for dep in c.deps:
                for op in ("create", "update"):
                    if (dep, op) in steps:
                        waits[mine].add((dep, op))
        if c.action is Action.REPLACE:
            if c.create_before_destroy:
                waits[(a, "delete")].add((a, "create"))
            else:
                waits[(a, "create")].add((a, "delete"))
    # the old resource goes only when nothing refers to it any more
    for c in plan.actionable:
        for dep in c.old_deps:
            if (dep, "delete") not in steps or dep == c.address:
                continue
            for op in ("delete", "update"):
                if (c.address, op) in steps:
                    waits[(dep, "delete")].add((c.address, op))
    # rolling batches: batch n of a group starts when batch n-1 is fully replaced
    batches: dict[tuple[str, int], list[str]] = {}
    for c in plan.actionable:
        parsed = parse_instance_address(c.address)
        if parsed and c.batch:
            batches.setdefault((parsed[0], c.batch), []).append(c.address)
    for (group, n), members in batches.items():
        for prev in batches.get((group, n - 1), ()):
            for a in members:
                first = (a, "create") if changes[a].create_before_destroy else (a, "delete")
                waits[first].add((prev, "delete"))
                waits[first].add((prev, "create"))
    _check_acyclic(waits)
    return waits


def _check_acyclic(waits: dict[Key, set[Key]]) -> None:
    indegree = {k: len(v) for k, v in waits.items()}
    users: dict[Key, list[Key]] = {}
    for k, deps in waits.items():
        for d in deps:
            users.setdefault(d, []).append(k)
    ready = [k for k, n in indegree.items() if n == 0]
    seen = 0
    while ready:
        k = ready.pop()
        seen += 1
        for u in users.get(k, ()):
            indegree[u] -= 1
            if indegree[u] == 0:
                ready.append(u)
    if seen != len(waits):
        stuck = sorted(f"{op} {addr}" for (addr, op), n in indegree.items() if n)
        raise IacorchError("the plan has a dependency cycle between: " + ", ".join(stuck[:8]))


def execute(plan: Plan, run: StepFn, ids: IdMap, reporter: Reporter, *, parallelism: int = 10) -> Outcome:
    steps = steps_of(plan)
    waits = graph(plan)
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
