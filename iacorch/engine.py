"""The four stages wired together for one stack: observe -> plan -> apply.

The CLI (and tests, and the control loop) drive an Engine; it never prints,
it reports through a Reporter. The provider owns the cloud resources; the
host layer owns what runs on the hosts (Docker, images, containers).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from iacorch.errors import IacorchError, PlanStaleError
from iacorch.executor import Outcome, execute
from iacorch.hosts.layer import HostLayer
from iacorch.lb.layer import LbLayer
from iacorch.plan import Plan
from iacorch.planner import plan as make_plan
from iacorch.provider import IdMap, Step
from iacorch.report import Reporter
from iacorch.resources import Observed
from iacorch.ssh import SshPool
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
    unreachable: dict[str, str] = field(default_factory=dict)


class Engine:
    def __init__(self, sf: StackFile, provider: Any, reporter: Reporter, *,
                 trust_new_host_keys: bool = False) -> None:
        self.sf = sf
        self.provider = provider
        self.reporter = reporter
        self.pool = SshPool(trust_on_first_use=trust_new_host_keys)
        self.hosts = HostLayer(sf, provider, self.pool, reporter)
        self.balancers = LbLayer(sf, provider, self.pool)
        # pure layers a provider plans on top of the host layer (AWS: aws-alb targets follow placement);
        # their steps go to provider.apply
        self.provider_layers = list(getattr(provider, "layers", ()))
        self.kinds = {**provider.model.kinds, **self.hosts.kinds, **self.balancers.kinds,
                      **{k: spec for layer in self.provider_layers for k, spec in layer.kinds.items()}}

    @property
    def stack(self):
        return self.sf.stack

    def observe(self) -> Observed:
        self.reporter.phase(f"observing stack {self.stack.stack!r} ({self.provider.name})")
        observed = self.hosts.observe(self.provider.observe(), extra_facts=self.balancers.facts)
        return self.balancers.observe(observed)

    def plan(self, observed: Observed, *, destroy: bool = False) -> Plan:
        return make_plan(self.stack, observed, self.provider.model, destroy=destroy,
                         layers=[self.hosts.model, self.balancers.model, *self.provider_layers],
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
        outcome = execute(plan, self._run_step, ids, self.reporter, parallelism=parallelism, kinds=self.kinds)
        unreachable = {h: f.get("error", "") for h, f in observed.hosts.items()
                       if not f.get("reachable", True) and not plan.destroy}
        return ApplyResult(plan, outcome, time.monotonic() - start, unreachable)

    def _run_step(self, step: Step, ids: IdMap) -> str | None:
        if step.change.kind in self.hosts.kinds:
            return self.hosts.apply(step, ids)
        if step.change.kind in self.balancers.kinds:
            return self.balancers.apply(step, ids)
        return self.provider.apply(step, ids)

    def close(self) -> None:
        self.pool.close()
        self.provider.close()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def failure_summary(result: ApplyResult) -> IacorchError:
    lines = []
    if result.outcome.failed:
        lines.append(f"{len(result.outcome.failed)} step(s) failed"
                     + (f", {len(result.outcome.skipped)} skipped" if result.outcome.skipped else "") + ":")
        for step, error in result.outcome.failed:
            lines.append(f"  {error}" if error.startswith(step.change.address) else f"  {step}: {error}")
    for host, error in sorted(result.unreachable.items()):
        lines.append(f"  {host} is unreachable ({error}); nothing on it was changed, the other hosts were")
    return IacorchError("\n".join(lines), hint="fix the cause and run apply again; it continues from here")
