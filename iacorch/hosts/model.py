"""Desired host resources for the planner: Docker engines, images and containers. Pure.

Addresses: ``docker@group.app[0]`` (the engine on a host), ``build.web`` (an
image built on this machine), ``image.web@group.app[0]`` (that image present
on a host) and ``service.web[3]`` (replica 3's active container).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from iacorch.hosts.containers import ContainerSpec, instance_tag, is_slot_port, slot_of, slot_port
from iacorch.hosts.placement import HostRoom, place, place_global
from iacorch.addresses import parse_instance_address
from iacorch.resources import KindSpec, Observed, Resource
from iacorch.stack.model import Stack

CONTAINER_DEFINING = ("host", "release", "image", "env", "secrets", "port", "ports", "volumes", "command",
                      "restart", "health", "labels", "host_port")

KINDS: dict[str, KindSpec] = {k.kind: k for k in (
    KindSpec("docker_engine", replace_fields=frozenset({"host"}), label="Docker engine"),
    KindSpec("local_image", replace_fields=frozenset({"ref"}), label="image built here"),
    KindSpec("image", replace_fields=frozenset({"host", "ref"}), create_before_destroy=True,
             label="image on a host"),
    KindSpec("container", replace_fields=frozenset(CONTAINER_DEFINING), create_before_destroy=True,
             label="container"),
)}


def engine_address(host: str) -> str:
    return f"docker@{host}"


def image_address(service: str, host: str) -> str:
    return f"image.{service}@{host}"


@dataclass(frozen=True)
class HostInputs:
    """What the host layer reads from this machine before planning (so the model stays pure):
    the image each service runs (for ``build:`` services, a tag with the context's digest) and
    what each launch template offers when a host's own capacity is not observed yet."""

    images: Mapping[str, str] = field(default_factory=dict)
    template_capacity: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    promote: frozenset[str] = frozenset()  # services whose canary is promoted in this plan
    # the control loop's choices (see iacorch.reconcile): replica counts of autoscaled services,
    # replicas to recreate away from a host (address -> host), limits of services with resources.auto
    replicas: Mapping[str, int] = field(default_factory=dict)
    avoid: Mapping[str, str] = field(default_factory=dict)
    resources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


class HostModel:
    kinds: Mapping[str, KindSpec] = KINDS

    def __init__(self, inputs: HostInputs) -> None:
        self.inputs = inputs

    def promoting(self, services) -> "HostModel":
        return HostModel(replace(self.inputs, promote=frozenset(self.inputs.promote | set(services))))

    def steering(self, replicas: Mapping[str, int], avoid: Mapping[str, str],
                 resources: Mapping[str, Mapping[str, Any]]) -> "HostModel":
        """The same model with the control loop's counts, moves and limits."""
        return HostModel(replace(self.inputs, replicas=dict(replicas), avoid=dict(avoid), resources=dict(resources)))

    def desired(self, stack: Stack, hosts: Mapping[str, list[str]], observed: Observed,
                below: list[Resource] | None = None) -> tuple[list[Resource], list[str]]:
        out: list[Resource] = []
        notes: list[str] = []
        groups_used = {svc.group for svc in stack.services.values()}
        unreachable: set[str] = set()
        for group in sorted(groups_used):
            for host in hosts.get(group, []):
                facts = observed.hosts.get(host)
                instance = observed.resources.get(host)
                if facts is not None and not facts.get("reachable", True):
                    notes.append(f"{host}: unreachable ({facts.get('error')}); its containers are left as they are")
                    unreachable.add(host)
                    continue
                if instance is not None and instance.attrs.get("state") not in (None, "running"):
                    # started by this plan; what runs on it is looked at once it answers again
                    notes.append(f"{host}: {instance.attrs.get('state')}; its containers are looked at once it runs")
                    unreachable.add(host)
                    continue
                out.append(Resource(engine_address(host), "docker_engine", {"host": host, "usable": True},
                                    deps=(host,)))
        # an unreachable host keeps its share of replicas (we cannot see them, so we do not move them)
        rooms = {g: [self._room(stack, h, observed) for h in hosts.get(g, [])] for g in groups_used}
        ports = SlotPorts(observed)
        current = {r.address: r.attrs.get("host") for r in observed.of_kind("container")}
        for name in sorted(stack.services):
            out += self._service(stack, name, rooms, unreachable, ports, current, observed, notes)
        return out, notes

    def _service(self, stack: Stack, name: str, rooms: dict[str, list[HostRoom]], unreachable: set[str],
                 ports: "SlotPorts", current: dict[str, str | None], observed: Observed,
                 notes: list[str]) -> list[Resource]:
        out: list[Resource] = []
        svc = stack.services[name]
        ref = self.inputs.images.get(name) or svc.image
        build = f"build.{name}" if svc.build else None
        if build:
            out.append(Resource(build, "local_image", {"ref": ref, "context": svc.build}))
        cpus, memory = self._limits(name, svc, observed, notes)
        reserve_cpus = svc.resources.cpus if svc.resources else None  # what placement reserves per replica
        reserve_memory = svc.resources.memory if svc.resources else None
        if svc.resources and svc.resources.auto:
            reserve_cpus, reserve_memory = svc.resources.min.cpus, svc.resources.min.memory
        group_rooms = rooms.get(svc.group, [])
        if svc.mode == "global":
            placement = place_global(name, group_rooms, reserve_cpus, reserve_memory,
                                     lambda a: parse_instance_address(a)[1])
        else:
            wanted = self._replica_indices(name, svc, observed, notes)
            avoid = {r: self.inputs.avoid[f"service.{name}[{r}]"] for r in wanted
                     if f"service.{name}[{r}]" in self.inputs.avoid}
            placed_now = {r: current[f"service.{name}[{r}]"] for r in wanted
                          if current.get(f"service.{name}[{r}]") and r not in avoid}
            placement = place(name, wanted, group_rooms, placed_now, reserve_cpus, reserve_memory, avoid=avoid)
        if placement.unplaced:
            need = ", ".join(x for x in (f"{reserve_cpus:g} cpus" if reserve_cpus else "",
                                         f"{reserve_memory} bytes" if reserve_memory else "") if x)
            notes.append(f"service.{name}: replicas {list(placement.unplaced)} do not fit on the hosts of "
                         f"group {svc.group} (each needs {need or 'room'}); add hosts or lower resources")
        for host in sorted(set(placement.replicas.values()) - unreachable):
            out.append(Resource(image_address(name, host), "image", {"host": host, "ref": ref},
                                deps=(engine_address(host), host, *([build] if build else []))))
        release = ContainerSpec.of(stack.stack, name, svc, 0, ref).release
        held = self._canary_hold(name, svc, release, observed, notes)
        for replica, host in sorted(placement.replicas.items()):
            if host in unreachable:
                continue
            address = f"service.{name}[{replica}]"
            if address in held:
                out.append(Resource(address, "container", dict(held[address].attrs), deps=held[address].deps))
                continue
            spec = ContainerSpec.of(stack.stack, name, svc, replica, ref, cpus=cpus, memory=memory)
            if svc.port is not None:
                spec = replace(spec, host_port=ports.port_for(spec, host))
            out.append(container_resource(spec, host))
            # the wanted release already running beside the active one (an interrupted
            # rollout) is kept: the replacement adopts it instead of starting another
            leftover = observed.resources.get(f"{spec.address}~{instance_tag(spec.release, spec.host_port)}")
            if leftover is not None and leftover.attrs.get("host") == host:
                out.append(Resource(leftover.address, "container", dict(leftover.attrs), deps=leftover.deps))
        return out

    def _replica_indices(self, name: str, svc, observed: Observed, notes: list[str]) -> list[int]:
        """Which replicas the service has. With ``autoscale``, the count between min and max
        belongs to the control loop: the running count is kept (it is not drift), existing
        replicas keep their numbers, and new ones fill the gaps from the bottom."""
        auto = svc.autoscale
        if auto is None:
            return list(range(svc.replicas))
        existing = sorted({int(r.address.split("[", 1)[1].split("]", 1)[0]) for r in observed.of_kind("container")
                           if r.address.startswith(f"service.{name}[") and "~" not in r.address})
        if name in self.inputs.replicas:
            count = self.inputs.replicas[name]
        elif existing:
            count = len(existing)
        else:
            count = svc.replicas
        count = min(max(count, auto.min), auto.max)
        if existing or name in self.inputs.replicas:
            notes.append(f"service.{name}: autoscaled: {count} ({auto.min}..{auto.max})")
        keep = existing[:count]
        free = (i for i in range(count + len(existing) + 1) if i not in set(keep))
        while len(keep) < count:
            keep.append(next(free))
        return sorted(keep)

    def _limits(self, name: str, svc, observed: Observed, notes: list[str]) -> tuple[float | None, int | None]:
        """CPU and memory limits. With ``resources.auto`` they belong to the control loop within
        min..max: what the replicas have now is kept (it is not drift), else the loop's choice."""
        res = svc.resources
        if res is None:
            return None, None
        if not res.auto:
            return res.cpus, res.memory
        lo, hi = res.min, res.max
        chosen = self.inputs.resources.get(name)
        if chosen is None:
            mine = [r for r in observed.of_kind("container") if r.address.startswith(f"service.{name}[")
                    and "~" not in r.address]
            now = mine[0].attrs if mine else {}
            chosen = {"cpus": now.get("cpus") or res.cpus or lo.cpus, "memory": now.get("memory") or res.memory
                      or lo.memory}
        cpus, memory = chosen.get("cpus"), chosen.get("memory")
        if cpus is not None:
            cpus = min(max(cpus, lo.cpus or cpus), hi.cpus or cpus)
        if memory is not None:
            memory = min(max(memory, lo.memory or memory), hi.memory or memory)
        notes.append(f"service.{name}: autoscaled limits: cpus {cpus}, memory {memory} "
                     f"({lo.cpus}..{hi.cpus} cpus, {lo.memory}..{hi.memory} bytes)")
        return cpus, memory

    def canary_release(self, stack: Stack, service: str) -> str:
        svc = stack.services[service]
        return ContainerSpec.of(stack.stack, service, svc, 0, self.inputs.images.get(service) or svc.image or "").release

    def canary_holds(self, stack: Stack, observed: Observed) -> dict[str, list[str]]:
        """Services whose canary is running and waits for promotion: the replicas held back."""
        out = {}
        for name, svc in sorted(stack.services.items()):
            held = self._canary_hold(name, svc, self.canary_release(stack, name), observed, [])
            if held:
                out[name] = sorted(held)
        return out

    def _canary_hold(self, name: str, svc, release: str, observed: Observed, notes: list[str]) -> dict:
        """With ``update.canary: N``, a new release first goes to N replicas; the others keep their
        release (held as they are) until the service is promoted."""
        if not svc.update.canary or name in self.inputs.promote:
            return {}
        mine = sorted((r for r in observed.of_kind("container")
                       if r.address.startswith(f"service.{name}[") and "~" not in r.address),
                      key=lambda r: int(r.address.split("[", 1)[1].rstrip("]")))
        on_new = [r for r in mine if r.attrs.get("release") == release]
        others = [r for r in mine if r.attrs.get("release") != release]
        if not others:
            return {}  # a first deploy, or everything is on this release already
        held = others[max(0, svc.update.canary - len(on_new)):]
        if held:
            canaries = len(mine) - len(held)
            how = ("promotes itself after it stays healthy for update.monitor" if svc.update.auto_promote
                   else f"promote it with: iacorch promote STACKFILE {name}")
            notes.append(f"service.{name}: canary: release {release} on {canaries} of {len(mine)} replica(s), "
                         f"{len(held)} held on their release; {how}")
        return {r.address: r for r in held}

    def _room(self, stack: Stack, host: str, observed: Observed) -> HostRoom:
        cap = dict((observed.hosts.get(host) or {}).get("capacity") or {})
        if not cap:
            group = parse_instance_address(host)[0]
            template = stack.groups[group].template if group in stack.groups else None
            cap = dict(self.inputs.template_capacity.get(template or "", {}))
        return HostRoom(host, cpus=cap.get("cpus"), memory=cap.get("memory"))


class SlotPorts:
    """Which slot port each replica publishes on. A replica keeps its pair of slots on its host;
    a new release takes the other slot of the pair (the old one still holds its own), and the
    release already running beside the active one (an interrupted rollout) keeps the slot it has.
    New replicas get the lowest pair free on their host."""

    def __init__(self, observed: Observed) -> None:
        self.used: dict[str, set[int]] = {}
        self.current: dict[str, list[tuple[str, str | None, int]]] = {}  # base address -> [(host, release, port)]
        for res in observed.of_kind("container"):
            port, host = res.attrs.get("host_port"), res.attrs.get("host")
            if is_slot_port(port) and host:
                self.used.setdefault(host, set()).add(slot_of(port)[0])
                self.current.setdefault(res.address.split("~", 1)[0], []).append(
                    (host, res.attrs.get("release"), port))

    def port_for(self, spec: ContainerSpec, host: str) -> int:
        mine = [(r, p) for h, r, p in self.current.get(spec.address, []) if h == host]
        for release, port in mine:
            if release == spec.release:
                return port
        if mine:
            pair, slot = slot_of(mine[0][1])
            return slot_port(pair, 1 - slot)
        used = self.used.setdefault(host, set())
        pair = next(k for k in range(len(used) + 1) if k not in used)
        used.add(pair)
        return slot_port(pair, 0)


def container_resource(spec: ContainerSpec, host: str) -> Resource:
    attrs = {"host": host, "release": spec.release, **spec.defining(), "host_port": spec.host_port,
             "cpus": spec.cpus, "memory": spec.memory, "state": "running"}
    # fixed host ports cannot be held by two releases at once: stop the old one first
    return Resource(spec.address, "container", attrs,
                    deps=(image_address(spec.service, host), engine_address(host), host),
                    create_before_destroy=not spec.ports)
