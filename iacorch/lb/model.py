"""Desired load balancer hosts for the planner. Pure.

One resource per host that runs HAProxy, ``haproxy@group.edge[0]``, for all the
load balancers placed on its group. Its attributes are what decides the
config: the settings (load balancers, the services' ports and health checks,
the template), the servers, and the addresses of the hosts they are on. Each
replica is two servers, one per slot port (``web-3a``, ``web-3b``), so a new
release can come up beside the old one and be switched to through the
runtime API without touching the config; the config changes only when
replicas, hosts or settings do.
"""

from __future__ import annotations

from importlib import resources
from typing import Any, Mapping

from iacorch.haproxy import backend_name, replica_server_name
from iacorch.hosts.containers import is_slot_port, slot_of, slot_port
from iacorch.resources import KindSpec, Observed, Resource, digest
from iacorch.stack.model import Stack

KINDS: dict[str, KindSpec] = {k.kind: k for k in (
    KindSpec("haproxy", replace_fields=frozenset({"host"}), set_fields=frozenset({"servers", "hosts"}),
             label="HAProxy"),
)}


def haproxy_address(host: str) -> str:
    return f"haproxy@{host}"


def slot_server(service: str, replica: int, slot: int) -> str:
    return replica_server_name(service, f"{replica}{'ab'[slot]}")


def template_digest() -> str:
    return digest((resources.files("templates") / "haproxy.cfg.j2").read_text(), 12)


def settings(stack: Stack, group: str) -> dict[str, Any]:
    lbs = {n: lb.model_dump(mode="json") for n, lb in sorted(stack.load_balancers.items())
           if lb.kind == "haproxy" and lb.group == group}
    mine = [lb for lb in stack.load_balancers.values() if lb.kind == "haproxy" and lb.group == group]
    routed = sorted({r.service for lb in mine for r in lb.routes} | {lb.service for lb in mine if lb.service})
    services = {s: {"port": stack.services[s].port,
                    "health": stack.services[s].health.model_dump(mode="json") if stack.services[s].health else None}
                for s in routed if s in stack.services}
    return {"load_balancers": lbs, "services": services, "template": template_digest()}


def server_line(backend: str, name: str, host: str, port: int) -> str:
    return f"{backend} {name} {host}:{port}"


def parse_server_line(line: str) -> tuple[str, str, str, int]:
    backend, name, where = line.split(" ")
    host, _, port = where.rpartition(":")
    return backend, name, host, int(port)


class LbModel:
    kinds: Mapping[str, KindSpec] = KINDS

    def desired(self, stack: Stack, hosts: Mapping[str, list[str]], observed: Observed,
                below: list[Resource] | None = None) -> tuple[list[Resource], list[str]]:
        containers = [r for r in below or () if r.kind == "container" and "~" not in r.address]
        out, notes = [], []
        for group in sorted({lb.group for lb in stack.load_balancers.values() if lb.kind == "haproxy" and lb.group}):
            conf = settings(stack, group)
            servers, used_hosts, deps = [], set(), []
            for lb_name, lb in sorted(stack.load_balancers.items()):
                if lb.kind != "haproxy" or lb.group != group:
                    continue
                for service in sorted({r.service for r in lb.routes} | ({lb.service} if lb.service else set())):
                    backend = backend_name(lb_name, service)
                    for c in containers:
                        if not c.address.startswith(f"service.{service}[") or not is_slot_port(c.attrs.get("host_port")):
                            continue
                        replica = int(c.address.split("[", 1)[1].rstrip("]"))
                        pair, _ = slot_of(c.attrs["host_port"])
                        for slot in (0, 1):
                            servers.append(server_line(backend, slot_server(service, replica, slot), c.attrs["host"],
                                                       slot_port(pair, slot)))
                        used_hosts.add(c.attrs["host"])
                        deps.append(c.address)
            # where the LB reaches each replica's host; None until the host exists (known after apply)
            ips = {h: (observed.hosts.get(h) or {}).get("ip") for h in sorted(used_hosts)}
            for host in hosts.get(group, []):
                facts = observed.hosts.get(host)
                if facts is not None and not facts.get("reachable", True):
                    notes.append(f"{host}: unreachable ({facts.get('error')}); its load balancer is left as it is")
                    continue
                out.append(Resource(haproxy_address(host), "haproxy", {
                    "host": host, "settings": digest(conf, 16), "servers": sorted(servers),
                    "hosts": sorted(used_hosts), "ips": ips,
                }, deps=tuple(dict.fromkeys([host, *sorted(used_hosts), *deps]))))
        return out, notes
