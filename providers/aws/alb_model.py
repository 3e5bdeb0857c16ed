"""``kind: aws-alb`` load balancers as desired resources. Pure: no boto3.

One application load balancer per load balancer, and around it:

    alb.NAME                        internet-facing, in the subnets and security groups of its group
                                    (or of the groups running its services)
    alb_target_group.NAME.SERVICE   one per routed service: HTTP, the service's health check,
                                    stickiness, algorithm and deregistration delay
    alb_targets.NAME.SERVICE@HOST   what is registered in it on one instance: both slot ports of
                                    the pair of every replica placed there (the ALB's own health
                                    checks keep traffic on the slot whose container runs and is healthy)
    alb_listener.NAME.http|https    ``listen`` (HTTP) and, with ``tls``, ``tls.port`` (HTTPS with an
                                    ACM certificate ARN); http redirects to https with ``redirect_http``
    alb_rule.NAME.LISTENER[N]       route N (priority N): host-header / path-pattern -> forward

The targets follow placement: the layer reads the containers the host layer
places (``below``) and registers both slots of each one's pair on its host.
Registrations are one resource per instance, not per target group: each then
waits for its own instance only, so a rolling instance replacement keeps its
order (new instance, register it, deregister and drain the old, delete it).
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

from iacorch.hosts.containers import SLOT_PORT_BASE, is_slot_port, slot_of, slot_port
from iacorch.resources import KindSpec, Observed, Resource, digest
from iacorch.stack.model import Stack
from iacorch.stack.services import LoadBalancer, Route, Service
from providers.aws.model import VPC

KINDS: dict[str, KindSpec] = {k.kind: k for k in (
    # names are unique per account and region: a replacement goes first, then its new one comes
    KindSpec("alb", replace_fields=frozenset({"name", "scheme", "vpc"}),
             set_fields=frozenset({"subnets", "security_groups"}), label="application load balancer"),
    KindSpec("alb_target_group", replace_fields=frozenset({"name", "vpc", "protocol", "port"}),
             label="ALB target group"),
    # "instance" names the instance: replaced, the registration follows it (an update)
    KindSpec("alb_targets", replace_fields=frozenset({"target_group"}), set_fields=frozenset({"targets"}),
             label="ALB targets"),
    KindSpec("alb_listener", replace_fields=frozenset({"alb", "protocol"}), label="ALB listener"),
    KindSpec("alb_rule", replace_fields=frozenset({"listener", "priority"}), label="ALB listener rule"),
)}

ALGORITHMS = {"roundrobin": "round_robin", "leastconn": "least_outstanding_requests"}
# what the ALB accepts for a health check (seconds and counts)
INTERVAL, TIMEOUT, THRESHOLD = (5, 300), (2, 120), (2, 10)
# a service without an http health check: any HTTP answer on the traffic port means it is up
ANY_ANSWER = "200-499"
HEALTHY_ANSWER = "200-399"  # what the http health check means everywhere else (2xx/3xx)
NOT_FOUND = {"type": "fixed-response", "status": 404}


# -- addresses and names ---------------------------------------------------------------------
def alb_address(lb: str) -> str:
    return f"alb.{lb}"


def target_group_address(lb: str, service: str) -> str:
    return f"alb_target_group.{lb}.{service}"


def targets_address(target_group: str, instance: str) -> str:
    """``alb_target_group.public.web``, ``group.app[0]`` -> ``alb_targets.public.web@group.app[0]``."""
    return f"alb_targets.{target_group.split('.', 1)[1]}@{instance}"


def listener_address(lb: str, listener: str) -> str:
    return f"alb_listener.{lb}.{listener}"


def rule_address(lb: str, listener: str, priority: int) -> str:
    return f"alb_rule.{lb}.{listener}[{priority}]"


def aws_name(*parts: str) -> str:
    """An ELBv2 name: at most 32 of [A-Za-z0-9-], no '--', no '-' at either end, not 'internal-...'.
    A name that does not fit is cut, and a digest of the whole keeps it unique."""
    whole = "-".join(parts)
    clean = re.sub(r"-+", "-", whole).strip("-")
    if clean == whole and len(clean) <= 32 and not clean.startswith("internal-"):
        return clean
    return f"{clean.removeprefix('internal-')[:25].rstrip('-')}-{digest(whole, 6)}"


def target(instance: str, port: int) -> str:
    return f"{instance}:{port}"


def parse_target(text: str) -> tuple[str, int]:
    instance, _, port = text.rpartition(":")
    return instance, int(port)


# -- what the stack says ------------------------------------------------------------------------
def routed_services(lb: LoadBalancer) -> list[str]:
    return sorted({r.service for r in lb.routes} | ({lb.service} if lb.service else set()))


def alb_groups(stack: Stack, lb: LoadBalancer) -> list[str]:
    """Where the ALB lives: its group, or the groups running its services."""
    if lb.group:
        return [lb.group]
    return sorted({stack.services[s].group for s in routed_services(lb) if s in stack.services})


def health_check(svc: Service) -> tuple[dict[str, Any], list[str]]:
    """The target group's health check from the service's, within what the ALB accepts.
    Returns it and what had to be moved into range (said in the plan's notes)."""
    h = svc.health
    moved: list[str] = []

    def within(name: str, given: float | None, default: int, bounds: tuple[int, int]) -> int:
        if given is None:
            return default
        value = min(max(math.ceil(given), bounds[0]), bounds[1])
        if value != given:
            moved.append(f"health check {name} {given:g} is outside the ALB's {bounds[0]}..{bounds[1]}; "
                         f"using {value}")
        return value

    interval = within("interval", h.interval if h else None, 30, INTERVAL)
    timeout = within("timeout", h.timeout if h else None, 5, (TIMEOUT[0], min(TIMEOUT[1], interval - 1)))
    http = h is not None and h.http is not None
    return {
        "path": h.http if http else "/",
        "port": "traffic-port",
        "matcher": HEALTHY_ANSWER if http else ANY_ANSWER,
        "interval": interval,
        "timeout": timeout,
        "healthy": within("healthy", h.healthy if h else None, 3, THRESHOLD),
        "unhealthy": within("unhealthy", h.unhealthy if h else None, 3, THRESHOLD),
    }, moved


def target_group_settings(lb: LoadBalancer, svc: Service) -> dict[str, Any]:
    return {
        "algorithm": ALGORITHMS.get(lb.algorithm, lb.algorithm),
        "sticky": lb.sticky is not None,
        # the ALB drains a deregistered target as long as the service drains a stopping replica
        "deregistration_delay": min(max(round(svc.update.drain_timeout), 0), 3600),
    }


def path_pattern(prefix: str) -> str:
    """A route's path prefix as an ALB path pattern: ``/api`` -> ``/api*``, ``/`` -> ``/*``."""
    return prefix + "*"


def conditions(route: Route) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if route.host:
        out.append({"field": "host-header", "values": [route.host]})
    if route.path != "/" or not route.host:
        out.append({"field": "path-pattern", "values": [path_pattern(route.path)]})
    return out


def forward(target_group: str) -> dict[str, Any]:
    return {"type": "forward", "target_group": target_group}


def redirect(port: int) -> dict[str, Any]:
    return {"type": "redirect", "protocol": "HTTPS", "port": port, "status": "HTTP_301"}


def listeners(lb: LoadBalancer) -> dict[str, dict[str, Any]]:
    """Listener name -> (protocol, port, certificate, routes here or only a redirect)."""
    out: dict[str, dict[str, Any]] = {}
    redirecting = lb.tls is not None and lb.tls.redirect_http
    out["http"] = {"protocol": "HTTP", "port": lb.listen, "routed": not redirecting}
    if lb.tls is not None:
        out["https"] = {"protocol": "HTTPS", "port": lb.tls.port, "certificate": lb.tls.cert, "routed": True}
    return out


# -- the layer ----------------------------------------------------------------------------------
class AwsAlbLayer:
    """Planned after the host layer: reads where the replicas are placed from ``below``."""

    kinds: Mapping[str, KindSpec] = KINDS

    def desired(self, stack: Stack, hosts: Mapping[str, list[str]], observed: Observed,
                below: list[Resource] | None = None) -> tuple[list[Resource], list[str]]:
        out: list[Resource] = []
        notes: list[str] = []
        for name, lb in sorted(stack.load_balancers.items()):
            if lb.kind == "aws-alb":
                out.extend(self._balancer(stack, name, lb, notes))
                for service in routed_services(lb):
                    tg = target_group_address(name, service)
                    out.extend(placed_targets(tg, service, below or (), observed, hosts, notes))
        return out, notes

    def _balancer(self, stack: Stack, name: str, lb: LoadBalancer, notes: list[str]) -> list[Resource]:
        groups = [stack.groups[g] for g in alb_groups(stack, lb) if g in stack.groups]
        subnets = sorted({f"subnet.{s}" for g in groups for s in g.subnets})
        sgs = sorted({f"security_group.{s}" for g in groups for s in g.security_groups})
        alb = alb_address(name)
        out = [Resource(alb, "alb", {
            "name": aws_name(stack.stack, name), "scheme": "internet-facing", "vpc": VPC,
            "subnets": subnets, "security_groups": sgs,
        }, deps=(VPC, *subnets, *sgs))]
        for service in routed_services(lb):
            svc = stack.services[service]
            tg = target_group_address(name, service)
            health, moved = health_check(svc)
            notes.extend(f"{tg}: {m}" for m in moved)
            out.append(Resource(tg, "alb_target_group", {
                "name": aws_name(stack.stack, name, service), "vpc": VPC, "protocol": "HTTP",
                "port": SLOT_PORT_BASE,  # targets are registered with their own (slot) ports
                "health": health, "settings": target_group_settings(lb, svc),
            }, deps=(VPC,)))
        default = forward(target_group_address(name, lb.service)) if lb.service else NOT_FOUND
        for lname, spec in listeners(lb).items():
            action = default if spec["routed"] else redirect(lb.tls.port)  # type: ignore[union-attr]
            attrs: dict[str, Any] = {"alb": alb, "protocol": spec["protocol"], "port": spec["port"],
                                     "default_action": action}
            if "certificate" in spec:
                attrs["certificate"] = spec["certificate"]
            listener = listener_address(name, lname)
            out.append(Resource(listener, "alb_listener", attrs, deps=_deps(alb, action)))
            if not spec["routed"]:
                continue
            for priority, route in enumerate(lb.routes, 1):
                action = forward(target_group_address(name, route.service))
                out.append(Resource(rule_address(name, lname, priority), "alb_rule", {
                    "listener": listener, "priority": priority, "conditions": conditions(route),
                    "action": action,
                }, deps=_deps(listener, action)))
        return out


def _deps(first: str, action: Mapping[str, Any]) -> tuple[str, ...]:
    return (first, action["target_group"]) if action.get("target_group") else (first,)


def placed_targets(tg: str, service: str, below: list[Resource] | tuple[Resource, ...], observed: Observed,
                   hosts: Mapping[str, list[str]], notes: list[str]) -> list[Resource]:
    """Both slot ports of every placed replica of ``service``, one registration per instance.

    A host that cannot be reached shows no containers; what is registered on it
    stays registered while the host stays in its group (we cannot see its
    replicas, so we do not move them).
    """
    found: dict[str, set[int]] = {}
    for res in below:
        port = res.attrs.get("host_port")
        mine = res.kind == "container" and res.address.startswith(f"service.{service}[")
        if not mine or not is_slot_port(port):
            continue
        pair, _ = slot_of(port)
        found.setdefault(res.attrs["host"], set()).update(slot_port(pair, slot) for slot in (0, 1))
    staying = {h for group in hosts.values() for h in group}
    unreachable = {h for h, f in observed.hosts.items() if not f.get("reachable", True) and h in staying}
    for have in observed.of_kind("alb_targets"):
        instance = have.attrs.get("instance")
        if have.attrs.get("target_group") == tg and instance in unreachable:
            found[instance] = {parse_target(t)[1] for t in have.attrs.get("targets") or []}
            notes.append(f"{have.address}: {instance} is unreachable; its targets stay as they are")
    return [Resource(targets_address(tg, instance), "alb_targets", {
        "target_group": tg, "instance": instance, "targets": sorted(target(instance, p) for p in ports),
    }, deps=(tg, instance)) for instance, ports in sorted(found.items()) if ports]
