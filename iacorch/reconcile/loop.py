"""The control loop: observe -> measure -> decide -> act, again and again.

Each pass observes the stack (no lock), measures what autoscaling needs (``docker stats``
over SSH, HAProxy's request counters), and lets the pure ``decide`` step choose. Acting
takes the stack lock, only for as long as it acts:

- sick hosts are set to MAINT in every HAProxy at once (the runtime API);
- a replica that exited or turned unhealthy is restarted in place, drained first and let
  back in once Docker and HAProxy both say healthy (the rollout's ``ReplicaSwitch``);
- everything else goes through the planner and the executor, as ``apply`` does, with the
  loop's choices (replica counts, instance indices, limits, replacements) steering the plan.
  So a terminated instance is made again, a stopped one started, a missing replica created,
  all health-gated.

Between passes the loop sleeps ``interval`` seconds, or less: it follows ``docker events``
on every host, and a container that dies or turns unhealthy wakes it at once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from iacorch.errors import IacorchError
from iacorch.haproxy import RuntimeApi
from iacorch.haproxy.from_stack import backend_name
from iacorch.lb.model import haproxy_address, parse_server_line
from iacorch.lock import StackLock
from iacorch.plan import Action, Plan
from iacorch.provider import IdMap
from iacorch.reconcile.decide import Decision, Event, Memory, Settings, decide, recommend
from iacorch.reconcile.events import EventLog
from iacorch.reconcile.metrics import Metrics, Usage, parse_stats, stats_command
from iacorch.resources import Observed
from iacorch.ssh import HostAddress
from iacorch.command import Command

log = logging.getLogger("iacorch.reconcile")

# what wakes the loop: a container of the stack that dies or changes health
EVENTS = ("die", "health_status", "oom")


@dataclass
class PassResult:
    decision: Decision
    plan: Plan | None = None
    events: list[Event] = field(default_factory=list)
    seconds: float = 0.0


def container_usage(engine, observed: Observed) -> dict[str, Usage]:
    """CPU and memory in use by each running container of the stack (``docker stats``, hosts in parallel)."""
    hosts = sorted({i["host"] for i in (observed.runtime.get("containers") or {}).values()
                    if (observed.hosts.get(i["host"]) or {}).get("reachable")})

    def stats_of(host: str) -> str:
        try:
            address = engine.provider.host_address(host, None)
            return engine.pool.run(address, stats_command(engine.stack.stack), check=False, timeout=30).stdout
        except IacorchError as exc:
            log.info("no docker stats from %s: %s", host, exc.message)
            return ""

    usage: dict[str, Usage] = {}
    if hosts:
        with ThreadPoolExecutor(max_workers=min(8, len(hosts)), thread_name_prefix="stats") as pool:
            for text in pool.map(stats_of, hosts):
                usage.update(parse_stats(text))
    return usage


def recommendations(engine, observed: Observed, settings: Settings = Settings()) -> dict[str, dict]:
    """For services with ``resources.auto``: peak use now, the limits they have, and what the loop would set."""
    auto = {n: s for n, s in engine.stack.services.items() if s.resources and s.resources.auto}
    if not auto:
        return {}
    usage = container_usage(engine, observed)
    out = {}
    for name, svc in sorted(auto.items()):
        mine = [(a, i) for a, i in (observed.runtime.get("containers") or {}).items()
                if a.startswith(f"service.{name}[") and "~" not in a and i["name"] in usage]
        if not mine:
            continue
        cores = max(usage[i["name"]].cpu_percent for _, i in mine) / 100.0
        memory = max(usage[i["name"]].memory for _, i in mine)
        limits = observed.resources[mine[0][0]].attrs if mine[0][0] in observed.resources else {}
        out[name] = {"peak_cpus": round(cores, 3), "peak_memory": memory,
                     "limits": {"cpus": limits.get("cpus"), "memory": limits.get("memory")},
                     "recommended": recommend(svc.resources, cores, memory, settings)}
    return out


class Reconciler:
    def __init__(self, engine, *, settings: Settings = Settings(), events: EventLog | None = None,
                 clock: Callable[[], float] = time.time, lock_wait: float = 60.0) -> None:
        self.engine = engine
        self.stack = engine.stack
        self.settings = settings
        self.log = events or EventLog(self.stack.stack)
        self.clock = clock
        self.lock_wait = lock_wait
        self.memory = Memory()
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._followers: dict[str, threading.Thread] = {}

    # -- the loop -----------------------------------------------------------------------
    def watch(self, interval: float, *, passes: int | None = None, on_pass: Callable[[PassResult], None] | None = None
              ) -> None:
        """Pass after pass until ``stop()`` (or ``passes`` passes); a host's docker event wakes it early."""
        done = 0
        while not self._stop.is_set():
            self.wake.clear()
            try:
                result = self.run_once()
            except IacorchError as exc:
                if passes is not None:
                    raise
                # watching for good: a pass that failed (the lock held by an apply, an API error, a
                # refused host key) is an event, and the next pass tries again
                failed = PassResult(Decision())
                self._record(failed, Event(self.clock(), f"stack {self.stack.stack}", "pass", str(exc), "failed"))
                if on_pass:
                    on_pass(failed)
                self.wake.wait(interval)
                continue
            done += 1
            if on_pass:
                on_pass(result)
            if passes is not None and done >= passes:
                break
            acted = result.decision.acts or (result.plan is not None and result.plan.has_changes)
            # after acting, look again soon: what was done is checked by the next observation
            self.wake.wait(min(interval, 1.0) if acted else interval)

    def stop(self) -> None:
        self._stop.set()
        self.wake.set()

    def run_once(self) -> PassResult:
        start = time.monotonic()
        observed = self.engine.observe()
        self._follow(observed)
        metrics = self.measure(observed)
        decision, self.memory = decide(self.clock(), self.stack, observed, metrics, self.memory, self.settings)
        result = PassResult(decision)
        for event in decision.events:
            if event.action in ("take out", "replace", "healed", "scale up", "scale down", "add instances",
                                "remove instance", "resize", "recreate"):
                self._record(result, event)
        plan = self.engine.plan(observed, steering=decision.steering(), replicas=decision.replicas,
                                avoid=decision.avoid, resources=decision.resources)
        if self._only_backing_off(plan):
            plan = None  # exited replicas waiting for their next restart: not now
        if decision.restart or decision.maint or (plan is not None and plan.has_changes):
            with StackLock(self.engine.provider.lock_backend(), self.stack.stack, "reconcile",
                           wait=self.lock_wait):
                ids = IdMap({a: r.id for a, r in observed.resources.items()})
                if decision.maint:
                    self._maint(observed, decision.maint, ids, result)
                if decision.restart:
                    self._restarts(observed, decision, ids, result)
                    if plan is not None:  # what a restart did changes what the plan sees: look again
                        observed = self.engine.observe()
                        plan = self.engine.plan(observed, steering=decision.steering(), replicas=decision.replicas,
                                                avoid=decision.avoid, resources=decision.resources)
                if plan is not None and plan.has_changes:
                    result.plan = plan
                    self._apply(plan, observed, result)
        result.seconds = time.monotonic() - start
        return result

    def _only_backing_off(self, plan: Plan) -> bool:
        """The plan would only start replicas that the loop restarts later (backoff)."""
        now = self.clock()
        changes = plan.actionable
        return bool(changes) and all(
            c.kind == "container" and c.action is Action.UPDATE and {f.name for f in c.fields} == {"state"}
            and self.memory.not_before.get(c.address, 0.0) > now for c in changes)

    def close(self) -> None:
        self.stop()
        for thread in self._followers.values():
            thread.join(timeout=2)
        self.engine.close()

    # -- measuring ----------------------------------------------------------------------
    def measure(self, observed: Observed) -> Metrics | None:
        services = self.stack.services.values()
        wants_usage = any((s.autoscale and s.autoscale.cpu_target) or (s.resources and s.resources.auto)
                          for s in services)
        wants_requests = any(s.autoscale and s.autoscale.requests_per_replica for s in services)
        if not wants_usage and not wants_requests:
            return None
        usage = container_usage(self.engine, observed) if wants_usage else {}
        requests = self._requests(observed) if wants_requests else {}
        return Metrics(usage=usage, requests=requests, time=self.clock())

    def _requests(self, observed: Observed) -> dict[str, int]:
        """Each service's request total, summed over its backends on every HAProxy."""
        totals: dict[str, int] = {}
        for host in self._lb_hosts(observed):
            try:
                stats = RuntimeApi(self.engine.pool, self.engine.provider.host_address(host, None)).stats()
            except IacorchError as exc:
                log.info("no HAProxy stats from %s: %s", host, exc.message)
                continue
            for lb_name, lb in self.stack.load_balancers.items():
                for service in {r.service for r in lb.routes} | ({lb.service} if lb.service else set()):
                    backend = stats.backend(backend_name(lb_name, service))
                    if backend is not None:
                        count = backend.total_requests if backend.total_requests is not None else \
                            backend.total_sessions
                        totals[service] = totals.get(service, 0) + count
        return totals

    def _lb_hosts(self, observed: Observed) -> list[str]:
        return sorted(r.attrs["host"] for r in observed.of_kind("haproxy")
                      if (observed.hosts.get(r.attrs["host"]) or {}).get("reachable"))

    # -- acting -------------------------------------------------------------------------
    def _maint(self, observed: Observed, hosts: set[str], ids: IdMap, result: PassResult) -> None:
        """Every server on a sick host goes to MAINT in every HAProxy, at once."""
        for lb_host in self._lb_hosts(observed):
            servers = [parse_server_line(line) for line in observed.resources[haproxy_address(lb_host)].attrs
                       .get("servers", [])]
            wanted = [(backend, name) for backend, name, where, _ in servers if where in hosts]
            if not wanted:
                continue
            try:
                api = RuntimeApi(self.engine.pool, self.engine.provider.host_address(lb_host, ids))
                current = {(s.backend, s.name): s.state for s in api.stats().backends for s in s.servers}
                for backend, name in wanted:
                    if current.get((backend, name)) != "MAINT":
                        api.set_state(backend, name, "maint")
            except IacorchError as exc:
                self._record(result, Event(self.clock(), lb_host, "maint", f"could not take servers on "
                                           f"{', '.join(sorted(hosts))} out: {exc.message}", "failed"))

    def _restarts(self, observed: Observed, decision: Decision, ids: IdMap, result: PassResult) -> None:
        containers = observed.runtime.get("containers") or {}
        reasons = {e.subject: e.reason for e in decision.events if e.action == "restart"}

        def one(address: str) -> Event:
            try:
                self.engine.hosts.steps.restart_replica(address, containers[address], ids)
                return Event(self.clock(), address, "restart", reasons.get(address, decision.restart[address]), "ok")
            except IacorchError as exc:
                return Event(self.clock(), address, "restart", f"{reasons.get(address, '')}: {exc.message}",
                             "failed")

        with ThreadPoolExecutor(max_workers=min(8, len(decision.restart)), thread_name_prefix="restart") as pool:
            for event in pool.map(one, sorted(decision.restart)):
                self._record(result, event)

    def _apply(self, plan: Plan, observed: Observed, result: PassResult) -> None:
        # the lock is held while this runs: a host that does not answer (it stopped again, it is
        # still booting) fails its step after host_ready, and the next pass looks again
        self.engine.pool.ready_timeout = self.settings.host_ready
        applied = self.engine.apply(plan, observed)
        failed = {step.change.address: error for step, error in applied.outcome.failed}
        failed.update({step.change.address: f"skipped: {why}" for step, why in applied.outcome.skipped})
        now = self.clock()
        for change in plan.actionable:
            error = failed.get(change.address)
            verb = {Action.CREATE: "create", Action.UPDATE: "update", Action.REPLACE: "replace",
                    Action.DELETE: "delete"}[change.action]
            self._record(result, Event(now, change.address, verb, change.reason + (f": {error}" if error else ""),
                                       "failed" if error else "ok"))
        for service, replicas in applied.rolled_back.items():
            self._record(result, Event(now, f"service.{service}", "rollback", f"{len(replicas)} replica(s) back on "
                                                                                 "their previous release", "ok"))

    def _record(self, result: PassResult, event: Event) -> None:
        result.events.append(event)
        self.log.write(event)

    # -- waking up ----------------------------------------------------------------------
    def _follow(self, observed: Observed) -> None:
        """Follow ``docker events`` on every reachable host with containers of this stack."""
        hosts = {h for h, f in observed.hosts.items() if f.get("reachable") and f.get("docker")}
        for host in sorted(hosts):
            thread = self._followers.get(host)
            if thread is not None and thread.is_alive():
                continue
            try:
                address = self.engine.provider.host_address(host, None)
            except IacorchError:
                continue
            thread = threading.Thread(target=self._follow_host, args=(host, address), daemon=True,
                                      name=f"events-{host}")
            self._followers[host] = thread
            thread.start()

    def _follow_host(self, host: str, address: HostAddress) -> None:
        filters = [f"--filter=label=iacorch.stack={self.stack.stack}", "--filter=type=container",
                   *[f"--filter=event={e}" for e in EVENTS]]
        command = Command.of("docker", "events", "--format", "{{json .}}", *filters)

        def on_line(line: str) -> None:
            try:
                status = json.loads(line).get("status", "")
            except ValueError:
                return
            if status.startswith(("die", "oom")) or status == "health_status: unhealthy":
                log.debug("%s: %s: waking the loop", host, status)
                self.wake.set()

        try:
            self.engine.pool.follow(address, command, on_line, self._stop)
        except IacorchError as exc:
            log.info("stopped following docker events on %s: %s", host, exc.message)
            self.wake.set()  # a host that went away is news too
