"""The four stages wired together for one stack: observe -> plan -> apply.

The CLI (and tests, and the control loop) drive an Engine; it never prints,
it reports through a Reporter.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from iacorch.errors import IacorchError, PlanStaleError
from iacorch.executor import Outcome, execute
from iacorch.plan import Plan
from iacorch.planner import plan as make_plan
from iacorch.provider import IdMap, Step
from iacorch.report import Reporter
from iacorch.resources import Observed
from iacorch.stack.load import StackFile, load_text


def snapshot(sf: StackFile) -> dict[str, Any]:
    """What a saved plan needs to rebuild the stack exactly."""
    return {"path": sf.path, "base_dir": sf.base_dir, "text": sf.text, "vars": dict(sf.variables)}


def stack_from_snapshot(source: dict[str, Any]) -> StackFile:
    return load_text(source["text"], source["path"], overrides=source.get("vars", {}),
                     base_dir=source.get("base_dir"))


@dataclass
class ApplyResult:
    plan: Plan
    outcome: Outcome
    seconds: float


class Engine:
    def __init__(self, sf: StackFile, provider: Any, reporter: Reporter) -> None:
        self.sf = sf
        self.provider = provider
        self.reporter = reporter

    @property
    def stack(self):
        return self.sf.stack

    def observe(self) -> Observed:
        self.reporter.phase(f"observing stack {self.stack.stack!r} ({self.provider.name})")
        return self.provider.observe()

    def plan(self, observed: Observed, *, destroy: bool = False) -> Plan:
        return make_plan(self.stack, observed, self.provider.model, destroy=destroy,
                         source=snapshot(self.sf))

    def check_fresh(self, plan: Plan, observed: Observed) -> None:
        if observed.fingerprint() != plan.observed_fingerprint:
            raise PlanStaleError(
                "the saved plan is stale: what exists changed since it was made",
                hint="make a new plan (iacorch plan -o plan.json) and apply that")

    def apply(self, plan: Plan, observed: Observed, *, parallelism: int = 10) -> ApplyResult:
        ids = IdMap({addr: r.id for addr, r in observed.resources.items()})
        start = time.monotonic()
        self.reporter.phase(f"applying {len(plan.actionable)} change(s) with parallelism {parallelism}")
        outcome = execute(plan, self._run_step, ids, self.reporter, parallelism=parallelism,
                          kinds=self.provider.model.kinds)
        return ApplyResult(plan, outcome, time.monotonic() - start)

    def _run_step(self, step: Step, ids: IdMap) -> str | None:
        return self.provider.apply(step, ids)


def failure_summary(result: ApplyResult) -> IacorchError:
    lines = [f"{len(result.outcome.failed)} step(s) failed"
             + (f", {len(result.outcome.skipped)} skipped" if result.outcome.skipped else "") + ":"]
    for step, error in result.outcome.failed:
        lines.append(f"  {step}: {error}" if step.change.address not in error.split(":", 1)[0]
                     else f"  {error}")
    return IacorchError("\n".join(lines), hint="fix the cause and run apply again; it continues from here")
