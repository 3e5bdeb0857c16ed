"""Observe the hosts of a stack: one SSH round trip per host, all hosts in parallel.

Turns each host's facts into observed resources (engine, images, active
containers) and runtime data (health, ports, retained releases). A host that
cannot be reached is recorded as such, with the reason; the others are unaffected.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Callable, Mapping

from iacorch.errors import HostError
from iacorch.hosts.build import local_image_present
from iacorch.hosts.containers import container_name, instance_tag
from iacorch.hosts.facts import ContainerFacts, Fact, HostFacts, host_facts_script, parse_host_facts
from iacorch.hosts.model import engine_address, image_address
from iacorch.hosts.docker import MIN_DOCKER_MAJOR
from iacorch.addresses import parse_instance_address
from iacorch.resources import Observed, ObservedResource
from iacorch.ssh import HostAddress, HostUnreachable, SshPool
from iacorch.stack.model import Stack


def host_addresses(stack: Stack, infra: Observed) -> list[str]:
    """Running instances of groups that run something (services or load balancers)."""
    groups = {s.group for s in stack.services.values()}
    groups |= {lb.group for lb in stack.load_balancers.values() if lb.group and lb.kind == "haproxy"}
    out = []
    for res in infra.resources.values():
        parsed = parse_instance_address(res.address)
        if parsed and parsed[0] in groups and res.attrs.get("state") == "running":
            out.append(res.address)
    return sorted(out)


def gather(pool: SshPool, stack: Stack, hosts: Mapping[str, HostAddress],
           extra: Mapping[str, Fact] | None = None) -> dict[str, HostFacts]:
    script = host_facts_script(stack.stack, extra)

    refused: list[HostError] = []

    def one(address: str) -> tuple[str, HostFacts]:
        try:
            result = pool.run(hosts[address], script, check=False)
            return address, parse_host_facts(result, extra)
        except HostUnreachable as exc:
            return address, HostFacts(reachable=False, error=exc.message)
        except HostError as exc:
            refused.append(exc)  # a wrong host key or a refused login is not "down": stop here
            return address, HostFacts(reachable=False, error=exc.message)

    if not hosts:
        return {}
    with ThreadPoolExecutor(max_workers=min(16, len(hosts)), thread_name_prefix="observe") as workers:
        facts = dict(workers.map(one, sorted(hosts)))
    if refused:
        raise refused[0] if len(refused) == 1 else HostError(
            "\n".join(str(e) for e in refused), hint="nothing was changed")
    return facts


def usable(version: str | None) -> bool:
    try:
        return version is not None and int(version.split(".")[0]) >= MIN_DOCKER_MAJOR
    except ValueError:
        return False


def merge(infra: Observed, stack: Stack, facts: Mapping[str, HostFacts], images: Mapping[str, str],
          local_present: Callable[[str], str | None] = local_image_present) -> Observed:
    """The infrastructure observation plus what the hosts said."""
    resources = dict(infra.resources)
    hosts: dict[str, Any] = {}
    runtime: dict[str, Any] = {"containers": {}, "retained": {}, "leftovers": {}, "extra": {}}
    for name, svc in stack.services.items():
        if svc.build and images.get(name):
            ident = local_present(images[name])
            if ident:
                resources[f"build.{name}"] = ObservedResource(f"build.{name}", "local_image", ident,
                                                              {"ref": images[name], "context": svc.build})
    for host, f in sorted(facts.items()):
        if not f.reachable:
            hosts[host] = {"reachable": False, "error": f.error}
            continue
        hosts[host] = {"reachable": True, "docker": f.docker, "capacity": dict(f.capacity)}
        runtime["extra"][host] = dict(f.extra)
        if usable(f.docker):
            resources[engine_address(host)] = ObservedResource(
                engine_address(host), "docker_engine", f.docker or "", {"host": host, "usable": True,
                                                                        "version": f.docker}, deps=(host,))
        for name, svc in stack.services.items():
            ref = images.get(name) or svc.image
            if ref in f.images:
                addr = image_address(name, host)
                resources[addr] = ObservedResource(addr, "image", f.images[ref], {"host": host, "ref": ref},
                                                   deps=(engine_address(host), host))
        for c in f.containers:
            _take_container(stack, host, c, resources, runtime)
    return replace(infra, resources=resources, hosts={**infra.hosts, **hosts}, runtime={**infra.runtime, **runtime})


def _take_container(stack: Stack, host: str, c: ContainerFacts, resources: dict[str, ObservedResource],
                    runtime: dict[str, Any]) -> None:
    info = {"host": host, "name": c.name, "id": c.id, "state": c.state, "health": c.health,
            "health_output": c.health_output, "release": c.release, "host_port": c.host_port,
            "started_at": c.started_at, "exit_code": c.exit_code, "restart_count": c.restart_count,
            "image": c.image}
    address = f"service.{c.service}[{c.replica}]"
    active = c.name == container_name(stack.stack, c.service, c.replica)
    candidate = ".new-" in c.name
    if not active and not (candidate and c.state == "running"):
        # a kept release, for rollback (one that was just switched from may still be stopping)
        runtime["retained"].setdefault(address, []).append(info)
        return
    if not active:
        # a release running beside the active one: an interrupted rollout. It is its own
        # address, so the planner removes it, or the model adopts it when it is the one wanted.
        address = f"{address}~{instance_tag(c.release or '', c.host_port)}"
        runtime["leftovers"][address] = info
    attrs = {**(c.spec or {}), "host": host, "release": c.release, "image": c.image,
             "env": dict(c.env), "cpus": c.cpus, "memory": c.memory, "host_port": c.host_port,
             "state": "running" if c.state == "running" else c.state}
    resources[address] = ObservedResource(address, "container", c.id, attrs,
                                          deps=(image_address(c.service, host), engine_address(host), host))
    runtime["containers"][address] = info
