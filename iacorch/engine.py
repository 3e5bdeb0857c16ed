"""The four stages wired together for one stack: observe -> plan -> apply.

The CLI (and tests, and the control loop) drive an Engine; it never prints,
it reports through a Reporter. The provider owns the cloud resources; the
host layer owns what runs on the hosts (Docker, images, containers).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from iacorch.errors import IacorchError, PlanStaleError
from iacorch.executor import Outcome, execute
from iacorch.hosts.layer import HostLayer
from iacorch.hosts.releases import Revert, rollback_targets
from iacorch.lb.layer import LbLayer
from iacorch.addresses import parse_replica_address
from iacorch.plan import Plan
from iacorch.planner import Steering, plan as make_plan
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
    rolled_back: dict[str, list[str]] = field(default_factory=dict)  # service -> replicas restored
    rollback_errors: list[str] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)  # services whose rollout stopped where it was

    @property
    def ok(self) -> bool:
        return self.outcome.ok and not self.unreachable


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

    def plan(self, observed: Observed, *, destroy: bool = False, promote: Iterable[str] = (),
             steering: Steering = Steering(), replicas: Mapping[str, int] | None = None,
             avoid: Mapping[str, str] | None = None, resources: Mapping[str, Mapping] | None = None) -> Plan:
        """``promote``: services whose canary goes to every replica in this plan. The control
        loop steers what the stack leaves to it: ``steering`` (group indices, instances to
        replace), ``replicas`` (counts of autoscaled services), ``avoid`` (replica -> host to
        move it off) and ``resources`` (limits of services with ``resources.auto``)."""
        hosts_model = self.hosts.model.promoting(promote) if promote else self.hosts.model
        if replicas or avoid or resources:
            hosts_model = hosts_model.steering(replicas or {}, avoid or {}, resources or {})
        return make_plan(self.stack, observed, self.provider.model, destroy=destroy,
                         layers=[hosts_model, self.balancers.model, *self.provider_layers],
                         source=snapshot(self.sf), steering=steering)

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
        result = ApplyResult(plan, outcome, time.monotonic() - start, unreachable)
        self._after_failed_rollouts(result, ids, parallelism)
        result.seconds = time.monotonic() - start
        return result

    def _after_failed_rollouts(self, result: ApplyResult, ids: IdMap, parallelism: int) -> None:
        """A service whose new release failed on a replica: with ``on_failure: rollback`` every replica
        this apply already switched goes back to what it ran before; with ``pause`` they stay."""
        failed = sorted({parse_replica_address(step.change.address.split("~", 1)[0])[0]
                         for step, _ in result.outcome.failed
                         if step.change.kind == "container" and parse_replica_address(step.change.address)})
        for service in failed:
            svc = self.stack.services.get(service)
            if svc is None:
                continue
            if svc.update.on_failure == "pause":
                result.paused.append(service)
                continue
            reverted, errors = self.rollback_switched(service, ids, parallelism)
            result.rolled_back[service] = reverted
            result.rollback_errors += errors

    def rollback_switched(self, service: str, ids, parallelism: int = 10) -> tuple[list[str], list[str]]:
        """Every replica of ``service`` switched by this engine goes back to what it ran before."""
        targets = self.hosts.steps.switched_targets(service)
        if not targets:
            return [], []
        if not isinstance(ids, IdMap):
            ids = IdMap(ids)
        self.reporter.phase(f"rolling back {len(targets)} replica(s) of {service}")
        return self._revert(targets, ids, parallelism)

    def _revert(self, targets: list[Revert], ids: IdMap, parallelism: int) -> tuple[list[str], list[str]]:
        """All at once: each replica's old instance serves until its kept one is healthy."""
        reverted, errors = [], []

        def one(target: Revert) -> None:
            started = time.monotonic()
            self.reporter.started(f"rollback {target.address}")
            try:
                self.hosts.steps.revert(target, ids)
                reverted.append(target.address)
                self.reporter.finished(f"rollback {target.address}", time.monotonic() - started,
                                       f"release {target.release}")
            except IacorchError as exc:
                errors.append(f"{target.address}: {exc}")
                self.reporter.failed(f"rollback {target.address}", str(exc))

        with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(targets)))) as pool:
            list(pool.map(one, targets))
        return sorted(reverted), errors

    def watch_canaries(self, services: list[str], seconds: float) -> str | None:
        """Watch the canaries of ``services`` for ``seconds``: None if they all stay running and
        healthy, else what went wrong."""
        deadline = time.monotonic() + seconds
        while True:
            observed = self.observe()
            for service in services:
                release = self.hosts.model.canary_release(self.stack, service)
                for address, info in (observed.runtime.get("containers") or {}).items():
                    if address.startswith(f"service.{service}[") and info.get("release") == release \
                            and (info["state"] != "running" or info.get("health") == "unhealthy"):
                        return (f"canary {address} of {service} is {info['state']}"
                                f"{', ' + str(info.get('health')) if info.get('health') else ''}: "
                                f"{info.get('health_output') or ''}".rstrip(": "))
            if time.monotonic() >= deadline:
                return None
            time.sleep(1.0)

    def rollback(self, service: str, to: str | None, *, parallelism: int = 10) -> tuple[list[str], list[str], str]:
        """Switch every replica of ``service`` to a kept release (default: the previous one)."""
        if service not in self.stack.services:
            raise IacorchError(f"stack {self.stack.stack!r} has no service {service!r}",
                               hint="services: " + ", ".join(sorted(self.stack.services)))
        observed = self.observe()
        targets = rollback_targets(observed, service, to)
        if not targets:
            return [], [], to or ""
        ids = IdMap({addr: r.id for addr, r in observed.resources.items()})
        self.reporter.phase(f"rolling back {len(targets)} replica(s) of {service} to release {targets[0].release}")
        reverted, errors = self._revert(targets, ids, parallelism)
        return reverted, errors, targets[0].release

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
    for service, replicas in sorted(result.rolled_back.items()):
        lines.append(f"rolled back: {service}'s new release failed; "
                     + (f"{len(replicas)} replica(s) switched in this apply are back on their previous release"
                        if replicas else "no replica had been switched, all still run their previous release"))
    for error in result.rollback_errors:
        lines.append(f"  rollback failed: {error}")
    for service in result.paused:
        lines.append(f"paused: {service}'s rollout stopped where it failed (update.on_failure: pause); "
                     "fix and apply again, or run iacorch rollback")
    if result.outcome.failed:
        lines.append(f"{len(result.outcome.failed)} step(s) failed"
                     + (f", {len(result.outcome.skipped)} skipped" if result.outcome.skipped else "") + ":")
        for step, error in result.outcome.failed:
            lines.append(f"  {error}" if error.startswith(step.change.address) else f"  {step}: {error}")
    for host, error in sorted(result.unreachable.items()):
        lines.append(f"  {host} is unreachable ({error}); nothing on it was changed, the other hosts were")
    return IacorchError("\n".join(lines), hint="fix the cause and run apply again; it continues from here")
