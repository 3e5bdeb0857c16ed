"""The decision step of the control loop. Pure: observed state, metrics and the loop's
memory in; actions and events out; the clock is passed in.

Healing: a replica that exited or turned unhealthy is restarted, with exponential
backoff; one that keeps failing (``max_restarts`` within ``restart_window``) is
recreated, on another host when its own is sick. A host that stops answering, or
whose instance was stopped or terminated, is taken out of the load balancers at
once and its replicas go to the other hosts; one that does not answer for
``replace_after`` is replaced with a new instance.

Scaling: a service with ``autoscale`` gets desired = ceil(current x metric / target),
within a tolerance, between min and max; up at once, down only when every
recommendation over ``scale_down_window`` was lower, and not within ``cooldown``
of the last change. A group with ``autoscale`` gets instances when replicas do
not fit, and loses instances idle for ``scale_in_idle``, down to min. A service
with ``resources: {auto: true}`` gets CPU and memory limits from its usage,
within min..max, changed in place.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

from iacorch.addresses import parse_instance_address, parse_replica_address
from iacorch.hosts.placement import HostRoom, place
from iacorch.planner import Steering
from iacorch.reconcile.metrics import Metrics
from iacorch.resources import Observed
from iacorch.stack.model import Stack

MiB = 1024 * 1024


@dataclass(frozen=True)
class Event:
    time: float
    subject: str
    action: str
    reason: str
    result: str = "decided"

    def with_result(self, result: str) -> "Event":
        return Event(self.time, self.subject, self.action, self.reason, result)

    def to_json(self) -> dict[str, Any]:
        return {"time": self.time, "subject": self.subject, "action": self.action, "reason": self.reason,
                "result": self.result}


@dataclass(frozen=True)
class Settings:
    restart_backoff: float = 2.0  # first wait between restarts of one replica; doubles each time
    restart_backoff_max: float = 60.0
    max_restarts: int = 3  # within restart_window, then the replica is recreated
    restart_window: float = 600.0
    replace_after: float = 30.0  # a host unreachable this long is replaced
    host_ready: float = 90.0  # a host the plan acts on may take this long to answer SSH (then: next pass)
    headroom: float = 1.3  # vertical scaling: limits this much above the usage seen


@dataclass
class Memory:
    """What the loop remembers between passes (in the loop's process only)."""

    restarts: dict[str, list[float]] = field(default_factory=dict)
    not_before: dict[str, float] = field(default_factory=dict)
    unreachable_since: dict[str, float] = field(default_factory=dict)
    host_state: dict[str, str] = field(default_factory=dict)  # sick hosts: gone, stopped, unreachable, ...
    recommendations: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    last_scale: dict[str, float] = field(default_factory=dict)
    idle_since: dict[str, float] = field(default_factory=dict)
    requests: dict[str, tuple[float, int]] = field(default_factory=dict)
    watching_since: float | None = None


@dataclass
class Decision:
    restart: dict[str, str] = field(default_factory=dict)  # replica -> reason
    recreate: dict[str, str | None] = field(default_factory=dict)  # replica -> host to avoid (None: same host)
    maint: set[str] = field(default_factory=set)  # hosts out of the load balancers now
    replace_hosts: dict[str, str] = field(default_factory=dict)  # instance -> why it is replaced
    replicas: dict[str, int] = field(default_factory=dict)  # service -> count
    groups: dict[str, list[int]] = field(default_factory=dict)  # group -> instance indices
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)  # service -> {cpus, memory}
    events: list[Event] = field(default_factory=list)

    @property
    def acts(self) -> bool:
        return bool(self.restart or self.recreate or self.maint or self.replace_hosts
                    or self.replicas or self.groups or self.resources)

    @property
    def steers(self) -> bool:
        """Whether the plan must be made with the loop's choices."""
        return bool(self.recreate or self.replace_hosts or self.replicas or self.groups or self.resources)

    def steering(self) -> Steering:
        replace = {**self.replace_hosts, **{a: "failed again after restarts: a new container" for a, host
                                            in self.recreate.items() if host is None}}
        return Steering(groups=dict(self.groups), replace=frozenset(replace), reasons=replace)

    @property
    def avoid(self) -> dict[str, str]:
        return {a: host for a, host in self.recreate.items() if host is not None}


def decide(now: float, stack: Stack, observed: Observed, metrics: Metrics | None, memory: Memory,
           settings: Settings = Settings()) -> tuple[Decision, Memory]:
    memory = copy.deepcopy(memory)
    if memory.watching_since is None:
        memory.watching_since = now
    d = Decision()
    sick = _hosts(now, stack, observed, memory, settings, d)
    _replicas(now, stack, observed, memory, settings, sick, d)
    _horizontal(now, stack, observed, metrics, memory, d)
    _groups(now, stack, observed, memory, sick, d)
    _vertical(now, stack, observed, metrics, settings, d)
    return d, memory


# -- hosts ----------------------------------------------------------------------------------------


def instances(stack: Stack, observed: Observed) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {g: [] for g in stack.groups}
    for address, res in observed.resources.items():
        parsed = parse_instance_address(address)
        if parsed and parsed[0] in out and res.kind in ("instance", "vm"):
            out[parsed[0]].append(parsed[1])
    return {g: sorted(i) for g, i in out.items()}


def _hosts(now: float, stack: Stack, observed: Observed, memory: Memory, settings: Settings,
           d: Decision) -> set[str]:
    """Hosts that cannot run replicas now: out of the load balancers at once. The plan starts a
    stopped instance and makes a new one for a terminated one (Docker, images, replicas on it);
    one that stays unreachable for ``replace_after`` is replaced."""
    sick: set[str] = set()
    have = instances(stack, observed)
    used = {s.group for s in stack.services.values()}
    for group in sorted(used):
        g = stack.groups.get(group)
        if g is None:
            continue
        template = g.template
        wanted = max(len(have.get(group, [])), g.size.target if g.autoscale is None else g.size.min)
        expected = set(have.get(group, []))
        free = (i for i in range(wanted + len(expected) + 1) if i not in expected)
        while len(expected) < wanted:  # instances the stack wants that are gone (terminated)
            expected.add(next(free))
        for index in sorted(expected):
            host = f"group.{group}[{index}]"
            res = observed.resources.get(host)
            facts = observed.hosts.get(host) or {}
            if res is None:
                state, why = "gone", (f"its instance is gone; a new one is made from template {template}, "
                                      "Docker installed and its replicas placed")
            elif res.attrs.get("state") != "running":
                state, why = "stopped", (f"its instance is {res.attrs.get('state')}; out of the load balancers "
                                         "and started again")
            elif facts and not facts.get("reachable", True):
                since = memory.unreachable_since.setdefault(host, now)
                if now - since >= settings.replace_after:
                    d.replace_hosts[host] = (f"unreachable for {now - since:.0f}s ({facts.get('error')}): "
                                             f"replaced by a new instance from template {template}")
                    state, why = "replacing", d.replace_hosts[host]
                else:
                    state, why = "unreachable", (f"unreachable ({facts.get('error')}); out of the load balancers, "
                                                 f"replaced after {settings.replace_after:.0f}s")
            else:
                memory.unreachable_since.pop(host, None)
                if memory.host_state.pop(host, "ok") != "ok":
                    d.events.append(Event(now, host, "healed", "running and answering again", "ok"))
                continue
            sick.add(host)
            d.maint.add(host)
            if memory.host_state.get(host) != state:
                memory.host_state[host] = state
                d.events.append(Event(now, host, "take out" if state != "replacing" else "replace", why))
    return sick


# -- replicas -------------------------------------------------------------------------------------


def _replicas(now: float, stack: Stack, observed: Observed, memory: Memory, settings: Settings, sick: set[str],
              d: Decision) -> None:
    containers = observed.runtime.get("containers") or {}
    failing_on: dict[str, int] = {}
    bad = []
    for address, info in sorted(containers.items()):
        if "~" in address or not parse_replica_address(address):
            continue
        if info["host"] in sick:
            continue
        down = info["state"] not in ("running", "restarting")
        unhealthy = info["state"] == "running" and info.get("health") == "unhealthy"
        if down or unhealthy:
            bad.append((address, info, "exited" if down else "unhealthy"))
            failing_on[info["host"]] = failing_on.get(info["host"], 0) + 1
        else:
            memory.not_before.pop(address, None)
    for address, info, why in bad:
        history = [t for t in memory.restarts.get(address, []) if now - t < settings.restart_window]
        memory.restarts[address] = history
        if len(history) >= settings.max_restarts:
            host_sick = failing_on.get(info["host"], 0) >= 2 or not (observed.hosts.get(info["host"]) or {}).get(
                "docker", True)
            d.recreate[address] = info["host"] if host_sick else None
            memory.restarts[address] = []
            where = f"on another host than {info['host']}, which is sick" if host_sick else "on its host"
            d.events.append(Event(now, address, "recreate", f"{why} again after {len(history)} restarts in "
                                                            f"{settings.restart_window:.0f}s; a new container {where}"))
            continue
        if now < memory.not_before.get(address, 0.0):
            continue
        d.restart[address] = why
        history.append(now)
        memory.not_before[address] = now + min(settings.restart_backoff * 2 ** (len(history) - 1),
                                               settings.restart_backoff_max)
        detail = f": {info.get('health_output')}" if why == "unhealthy" and info.get("health_output") else ""
        d.events.append(Event(now, address, "restart", f"{why}{detail} (restart {len(history)}, next no sooner "
                                                      f"than {memory.not_before[address] - now:.0f}s)"))


# -- horizontal -----------------------------------------------------------------------------------


def _running(service: str, observed: Observed) -> list[tuple[str, dict]]:
    return [(a, i) for a, i in sorted((observed.runtime.get("containers") or {}).items())
            if "~" not in a and a.startswith(f"service.{service}[")]


def _horizontal(now: float, stack: Stack, observed: Observed, metrics: Metrics | None, memory: Memory,
                d: Decision) -> None:
    for name, svc in sorted(stack.services.items()):
        auto = svc.autoscale
        if auto is None:
            continue
        replicas = _running(name, observed)
        running = [(a, i) for a, i in replicas if i["state"] == "running"]
        if not replicas or metrics is None:
            continue
        # below min (replicas on a stopped host are not seen) is healing's business, not scaling's
        current = max(len(replicas), auto.min)
        value = _metric(name, svc, running, metrics, memory)
        if value is None:
            continue
        target = auto.cpu_target if auto.cpu_target is not None else auto.requests_per_replica
        ratio = value / target
        wanted = current if abs(ratio - 1) <= auto.tolerance else math.ceil(current * ratio)
        wanted = min(max(wanted, auto.min), auto.max)
        history = [(t, n) for t, n in memory.recommendations.get(name, []) if now - t <= auto.scale_down_window]
        history.append((now, wanted))
        memory.recommendations[name] = history
        unit = "% CPU of the limit" if auto.cpu_target is not None else " requests/s per replica"
        since_change = now - memory.last_scale.get(name, -math.inf)
        if wanted > current:
            d.replicas[name] = wanted
            memory.last_scale[name] = now
            d.events.append(Event(now, f"service.{name}", "scale up",
                                  f"{value:.1f}{unit} vs target {target:g}: {current} -> {wanted}"))
        elif wanted < current:
            watched = now - (now if memory.watching_since is None else memory.watching_since) >= auto.scale_down_window
            stable = max(n for _, n in history)
            if watched and stable < current and since_change >= auto.cooldown:
                d.replicas[name] = stable
                memory.last_scale[name] = now
                d.events.append(Event(now, f"service.{name}", "scale down",
                                      f"{value:.1f}{unit} vs target {target:g} for {auto.scale_down_window:.0f}s: "
                                      f"{current} -> {stable}"))


def _metric(name: str, svc, running: list[tuple[str, dict]], metrics: Metrics, memory: Memory) -> float | None:
    auto = svc.autoscale
    if auto.cpu_target is not None:
        limit = (svc.resources.cpus if svc.resources and svc.resources.cpus else 1.0) * 100.0
        samples = [metrics.usage[i["name"]].cpu_percent for _, i in running if i["name"] in metrics.usage]
        return (sum(samples) / len(samples)) / limit * 100.0 if samples else None
    total = metrics.requests.get(name)
    if total is None:
        return None
    previous = memory.requests.get(name)
    memory.requests[name] = (metrics.time, total)
    if previous is None or metrics.time <= previous[0] or total < previous[1]:
        return None  # the first sample, or HAProxy reloaded (its counters restart)
    rate = (total - previous[1]) / (metrics.time - previous[0])
    return rate / max(len(running), 1)


# -- groups ---------------------------------------------------------------------------------------


def _groups(now: float, stack: Stack, observed: Observed, memory: Memory, sick: set[str], d: Decision) -> None:
    have = instances(stack, observed)
    lb_groups = {lb.group for lb in stack.load_balancers.values() if lb.group}
    containers = observed.runtime.get("containers") or {}
    for gname, group in sorted(stack.groups.items()):
        if group.autoscale is None or not group.autoscale.enabled:
            continue
        indices = have.get(gname, [])
        hosts = [f"group.{gname}[{i}]" for i in indices if f"group.{gname}[{i}]" not in sick]
        services = {n: s for n, s in stack.services.items() if s.group == gname}
        need = _unplaced(stack, observed, services, hosts, d)
        if need and len(indices) < group.size.max:
            extra = min(group.size.max - len(indices), need)
            free = [i for i in range(len(indices) + extra + 1) if i not in indices][:extra]
            d.groups[gname] = sorted(indices + free)
            d.events.append(Event(now, f"group.{gname}", "add instances",
                                  f"{need} replica(s) do not fit on {len(hosts)} host(s): {len(indices)} -> "
                                  f"{len(indices) + extra}"))
            continue
        if gname in lb_groups or len(indices) <= group.size.min:
            continue
        busy = {i["host"] for a, i in containers.items() if "~" not in a}
        idle = [h for h in hosts if h not in busy]
        for host in list(memory.idle_since):
            if host.startswith(f"group.{gname}[") and host not in idle:
                memory.idle_since.pop(host)
        removable = [h for h in sorted(idle, key=lambda h: -parse_instance_address(h)[1])
                     if now - memory.idle_since.setdefault(h, now) >= group.autoscale.scale_in_idle]
        removable = removable[:len(indices) - group.size.min]
        if removable:
            gone = {parse_instance_address(h)[1] for h in removable}
            d.groups[gname] = [i for i in indices if i not in gone]
            for h in removable:
                memory.idle_since.pop(h, None)
                d.events.append(Event(now, h, "remove instance", f"no replica for "
                                                                 f"{group.autoscale.scale_in_idle:.0f}s (min {group.size.min})"))


def _unplaced(stack: Stack, observed: Observed, services: dict, hosts: list[str], d: Decision) -> int:
    """How many replicas of these services do not fit on ``hosts`` (placement, as the plan does it)."""
    rooms = []
    for h in hosts:
        cap = (observed.hosts.get(h) or {}).get("capacity") or {}
        rooms.append(HostRoom(h, cap.get("cpus"), cap.get("memory")))
    missing = 0
    for name, svc in sorted(services.items()):
        count = d.replicas.get(name) or (len(_running(name, observed)) if svc.autoscale else svc.replicas)
        res = svc.resources
        placed = place(name, range(count), rooms, {}, res.cpus if res else None, res.memory if res else None)
        missing += len(placed.unplaced)
    return missing


# -- vertical -------------------------------------------------------------------------------------


def _vertical(now: float, stack: Stack, observed: Observed, metrics: Metrics | None, settings: Settings,
              d: Decision) -> None:
    if metrics is None:
        return
    for name, svc in sorted(stack.services.items()):
        res = svc.resources
        if res is None or not res.auto:
            continue
        running = [(a, i) for a, i in _running(name, observed) if i["state"] == "running"]
        usage = [metrics.usage[i["name"]] for _, i in running if i["name"] in metrics.usage]
        if not usage:
            continue
        want = recommend(res, max(u.cpu_percent for u in usage) / 100.0, max(u.memory for u in usage), settings)
        now_limits = observed.resources.get(running[0][0])
        cpus = now_limits.attrs.get("cpus") if now_limits else None
        memory = now_limits.attrs.get("memory") if now_limits else None
        if _differs(cpus, want["cpus"]) or _differs(memory, want["memory"]):
            d.resources[name] = want
            d.events.append(Event(now, f"service.{name}", "resize",
                                  f"uses {max(u.cpu_percent for u in usage):.0f}% CPU and "
                                  f"{max(u.memory for u in usage) // MiB} MiB: limits cpus {cpus} -> {want['cpus']}, "
                                  f"memory {(memory or 0) // MiB} -> {want['memory'] // MiB} MiB (in place)"))


def recommend(res, cores: float, memory: int, settings: Settings = Settings()) -> dict[str, Any]:
    """CPU and memory limits for the usage seen, with headroom, within min..max."""
    lo, hi = res.min, res.max
    cpus = round(max(cores * settings.headroom, 0.05), 2)
    cpus = min(max(cpus, lo.cpus or cpus), hi.cpus or cpus)
    mem = int(math.ceil(memory * settings.headroom / (4 * MiB)) * 4 * MiB)
    mem = min(max(mem, lo.memory or mem), hi.memory or mem)
    return {"cpus": cpus, "memory": mem}


def _differs(current: float | int | None, wanted: float | int) -> bool:
    return current is None or abs(current - wanted) > 0.15 * max(current, wanted)
