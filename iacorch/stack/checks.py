"""Checks that need the whole stack: references between sections, CIDR
containment and overlap, files that must exist, and fields that only one
provider understands. Each problem names file:line:col."""

from __future__ import annotations

import ipaddress
import os
import re
from typing import Iterable

from iacorch.errors import StackError
from iacorch.stack.diagnostics import format_path, suggest
from iacorch.stack.model import Stack
from iacorch.stack.source import Path, Source

# launch template fields each provider understands; the rest are errors there
_TEMPLATE_FIELDS = {
    "aws": {"image", "instance_type", "disk_gb", "user_data", "ssh"},
    "gcp": {"image", "machine_type", "disk_gb", "user_data", "ssh"},
    "local": {"cpus", "memory", "ssh"},
}
_TEMPLATE_REQUIRED = {"aws": ("image", "instance_type"), "gcp": ("image", "machine_type"), "local": ()}


class _Report:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.errors: list[StackError] = []

    def add(self, path: Path, message: str, hint: str | None = None, *, key: bool = False) -> None:
        self.errors.append(StackError(f"{format_path(path)}: {message}",
                                      where=self.source.where(path, key=key), hint=hint))

    def ref(self, path: Path, what: str, name: str, defined: Iterable[str], section: str) -> None:
        names = list(defined)
        if name in names:
            return
        guess = suggest(name, names)
        hint = f"did you mean '{guess}'?" if guess else (
            f"defined {section}: {', '.join(sorted(names))}" if names else f"define it under {section}:")
        self.add(path, f"{what} '{name}' is not defined", hint)


def check(stack: Stack, source: Source, base_dir: str) -> list[StackError]:
    report = _Report(source)
    _references(stack, report)
    _cidrs(stack, report)
    _provider_fields(stack, source, report)
    _aws_alb(stack, report)
    _files(stack, report, base_dir)
    return report.errors


def _references(stack: Stack, r: _Report) -> None:
    subnets = stack.network.subnets if stack.network else {}
    for gname, group in stack.groups.items():
        r.ref(("groups", gname, "template"), "launch template", group.template, stack.launch_templates,
              "launch_templates")
        for i, sn in enumerate(group.subnets):
            r.ref(("groups", gname, "subnets", i), "subnet", sn, subnets, "network.subnets")
        for i, sg in enumerate(group.security_groups):
            r.ref(("groups", gname, "security_groups", i), "security group", sg, stack.security_groups,
                  "security_groups")
    for sgname, sg in stack.security_groups.items():
        for i, rule in enumerate(sg.ingress):
            if rule.from_group:
                r.ref(("security_groups", sgname, "ingress", i, "from_group"), "security group",
                      rule.from_group, stack.security_groups, "security_groups")
            if rule.protocol in ("icmp", "all") and rule.ports:
                r.add(("security_groups", sgname, "ingress", i, "ports"),
                      f"protocol {rule.protocol} takes no ports")
    for sname, svc in stack.services.items():
        r.ref(("services", sname, "group"), "group", svc.group, stack.groups, "groups")
    for lname, lb in stack.load_balancers.items():
        if lb.group is not None:
            r.ref(("load_balancers", lname, "group"), "group", lb.group, stack.groups, "groups")
        targets = [(("load_balancers", lname, "service"), lb.service)] if lb.service else []
        targets += [(("load_balancers", lname, "routes", i, "service"), rt.service)
                    for i, rt in enumerate(lb.routes)]
        for path, name in targets:
            r.ref(path, "service", name, stack.services, "services")
            svc = stack.services.get(name)
            if svc is not None and svc.port is None:
                r.add(path, f"service '{name}' has no port to balance to",
                      f"set services.{name}.port to the port the app listens on")
    taken: dict[tuple[str, int], str] = {}  # (group, port) -> which setting uses it
    for lname, lb in stack.load_balancers.items():
        if lb.kind != "haproxy" or not lb.group:
            continue
        ports = [(("listen",), lb.listen), (("stats_port",), lb.stats_port)]
        if lb.tls:
            ports.append((("tls", "port"), lb.tls.port))
        for field, port in ports:
            name = f"load_balancers.{lname}.{'.'.join(field)}"
            other = taken.get((lb.group, port))
            # load balancers of one group may share the stats page; nothing else may share a port
            if other and not (field == ("stats_port",) and other.endswith(".stats_port")):
                r.add(("load_balancers", lname, *field), f"port {port} is already used on group {lb.group} by {other}")
            taken.setdefault((lb.group, port), name)
    if stack.reconcile and stack.reconcile.on:
        r.add(("reconcile", "on"), "running the control loop as a service on a host is not supported yet",
              hint="remove reconcile.on and run `iacorch reconcile STACKFILE --watch` where the stack's state "
                   "and credentials are (for example as a systemd unit)")


_RESERVED_ADDRESSES = {"aws": 5, "gcp": 4, "local": 3}


def _cidrs(stack: Stack, r: _Report) -> None:
    if not stack.network:
        return
    _capacity(stack, r)
    vpc = ipaddress.ip_network(stack.network.vpc.cidr)
    seen: list[tuple[str, ipaddress.IPv4Network]] = []
    for name, subnet in stack.network.subnets.items():
        net = ipaddress.ip_network(subnet.cidr)
        path = ("network", "subnets", name, "cidr")
        if not net.subnet_of(vpc):  # type: ignore[arg-type]
            r.add(path, f"{net} is not inside the VPC {vpc}")
            continue
        for other_name, other in seen:
            if net.overlaps(other):
                r.add(path, f"{net} overlaps subnet '{other_name}' ({other})")
        seen.append((name, net))


def _capacity(stack: Stack, r: _Report) -> None:
    """Groups at their max size must fit in their subnets (moto even crashes when they don't)."""
    need: dict[str, int] = {}
    for group in stack.groups.values():
        for i, name in enumerate(group.subnets):
            share = group.size.max // len(group.subnets) + (1 if i < group.size.max % len(group.subnets) else 0)
            need[name] = need.get(name, 0) + share
    for name, count in need.items():
        subnet = stack.network.subnets.get(name) if stack.network else None
        if subnet is None:
            continue
        usable = ipaddress.ip_network(subnet.cidr).num_addresses - _RESERVED_ADDRESSES[stack.provider_kind]
        if count > usable:
            r.add(("network", "subnets", name, "cidr"),
                  f"{subnet.cidr} has {max(usable, 0)} usable addresses, but the groups placed in it "
                  f"may need {count} at their max size", "use a larger subnet or lower the groups' max")


def _provider_fields(stack: Stack, source: Source, r: _Report) -> None:
    kind = stack.provider_kind
    allowed = _TEMPLATE_FIELDS[kind]
    for tname, tpl in stack.launch_templates.items():
        given = tpl.model_fields_set
        for field in sorted(given - allowed):
            owners = [p for p, fields in _TEMPLATE_FIELDS.items() if field in fields]
            r.add(("launch_templates", tname, field),
                  f"'{field}' is not used by the {kind} provider (only by {', '.join(owners)})",
                  _template_hint(kind), key=True)
        for field in _TEMPLATE_REQUIRED[kind]:
            if getattr(tpl, field) is None:
                r.add(("launch_templates", tname), f"the {kind} provider needs '{field}'")
    for lname, lb in stack.load_balancers.items():
        if lb.kind == "aws-alb" and kind != "aws":
            r.add(("load_balancers", lname, "kind"), f"kind aws-alb needs the aws provider, not {kind}")
    subnets = stack.network.subnets if stack.network else {}
    if kind == "gcp":
        _gcp_zones(stack, r)
        for sname, sn in subnets.items():
            if sn.zone is not None:
                r.add(("network", "subnets", sname, "zone"),
                      "GCP subnetworks are regional and take no zone", "list zones in provider.gcp.zones",
                      key=True)
    if kind == "local":
        if stack.security_groups:
            r.add(("security_groups",), "the local provider has no security groups (VMs share one Docker "
                  "network)", "remove security_groups for local stacks", key=True)
        if subnets:
            r.add(("network", "subnets"), "the local provider has one network: give only network.vpc.cidr",
                  key=True)
        for gname, group in stack.groups.items():
            if group.subnets:
                r.add(("groups", gname, "subnets"), "the local provider has no subnets", key=True)
    if kind in ("aws", "gcp"):
        for gname, group in stack.groups.items():
            if not group.subnets:
                r.add(("groups", gname), f"the {kind} provider needs at least one subnet for each group",
                      "add subnets: [NAME] naming entries of network.subnets")
        if stack.groups and not stack.network:
            r.add(("groups",), f"the {kind} provider needs a network: section with a vpc and subnets",
                  key=True)


def _gcp_zones(stack: Stack, r: _Report) -> None:
    """A GCE zone is its region's name and a letter (us-central1-a): each zone must lie in the region."""
    gcp = stack.provider.gcp
    if gcp is None:
        return
    given = [(("provider", "gcp", "zones", i), z) for i, z in enumerate(gcp.zones)]
    if gcp.zone:
        given.append((("provider", "gcp", "zone"), gcp.zone))
    for path, zone in given:
        if zone.rpartition("-")[0] != gcp.region:
            r.add(path, f"zone {zone} is not in region {gcp.region}",
                  f"use zones of {gcp.region} (e.g. {gcp.region}-a), or change provider.gcp.region")


# -- kind: aws-alb ------------------------------------------------------------------------------
_ALB_ALGORITHMS = ("roundrobin", "leastconn")
_CERT_ARN = re.compile(r"^arn:aws[a-z-]*:(acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+"
                       r"|iam::\d{12}:server-certificate/\S+)$")
_ALB_PATH = re.compile(r"^[A-Za-z0-9_\-.$/~\"'@:+&]*$")  # what an ALB path pattern may hold (besides * and ?)
_HAPROXY_ONLY = ("stats_port", "maxconn", "timeouts", "options")


def _aws_alb(stack: Stack, r: _Report) -> None:
    """What an application load balancer can do, checked before anything is planned."""
    if stack.provider_kind != "aws":
        return  # _provider_fields already refuses aws-alb elsewhere
    subnets = stack.network.subnets if stack.network else {}
    for lname, lb in stack.load_balancers.items():
        if lb.kind != "aws-alb":
            continue
        at = ("load_balancers", lname)
        if lb.mode != "http":
            r.add((*at, "mode"), "kind aws-alb balances http only", "use kind: haproxy for mode: tcp")
        if lb.algorithm not in _ALB_ALGORITHMS:
            r.add((*at, "algorithm"), f"kind aws-alb has no algorithm {lb.algorithm}",
                  "an ALB offers roundrobin and leastconn (least outstanding requests)")
        for field in _HAPROXY_ONLY:
            if field in lb.model_fields_set:
                r.add((*at, field), f"'{field}' is a HAProxy setting; kind aws-alb has none", key=True)
        if lb.sticky is not None and "cookie" in lb.sticky.model_fields_set:
            r.add((*at, "sticky", "cookie"), "an ALB names its own stickiness cookie (AWSALB)",
                  "use sticky: {}", key=True)
        if lb.tls is not None:
            if not _CERT_ARN.match(lb.tls.cert):
                r.add((*at, "tls", "cert"),
                      f"under kind aws-alb, tls.cert is an ACM certificate ARN, not {lb.tls.cert!r}",
                      "e.g. arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-...")
            if lb.tls.port == lb.listen:
                r.add((*at, "tls", "port"), f"port {lb.listen} is also the http listener's (listen)")
        for i, route in enumerate(lb.routes):
            if not _ALB_PATH.match(route.path) or len(route.path) > 127:
                r.add((*at, "routes", i, "path"), f"an ALB path pattern cannot hold {route.path!r}",
                      "use letters, digits and _-.$/~\"'@:+& (at most 127 characters)")
        groups = [lb.group] if lb.group else sorted({stack.services[s].group for s in
                                                      [lb.service, *[x.service for x in lb.routes]]
                                                      if s in stack.services})
        names = {sn for g in groups if g in stack.groups for sn in stack.groups[g].subnets if sn in subnets}
        zones = {subnets[sn].zone or sn for sn in names}
        if groups and all(g in stack.groups for g in groups) and len(zones) < 2:
            r.add((*at, "group") if lb.group else at,
                  f"an ALB needs subnets in at least two availability zones; "
                  f"group{'s' if len(groups) > 1 else ''} {', '.join(groups)} "
                  f"{'have' if len(groups) > 1 else 'has'} {', '.join(sorted(names)) or 'none'}",
                  "add a subnet in another zone to the group")
        for name in {lb.service, *[x.service for x in lb.routes]} - {None}:
            svc = stack.services.get(name)
            if svc is not None and svc.health is not None and svc.health.port not in (None, svc.port):
                r.add(("services", name, "health", "port"),
                      f"load balancer {lname} (aws-alb) checks health on the traffic port ({svc.port})",
                      "serve the health check on the service port")


def _template_hint(kind: str) -> str:
    return {
        "aws": "aws templates take image (an AMI id) and instance_type",
        "gcp": "gcp templates take image and machine_type",
        "local": "local templates take cpus and memory; VMs use iacorch's Debian base image",
    }[kind]


def _files(stack: Stack, r: _Report, base_dir: str) -> None:
    for tname, tpl in stack.launch_templates.items():
        key = tpl.ssh.key
        if key is not None:
            path = resolve_path(key, base_dir)
            if not os.path.isfile(path):
                r.add(("launch_templates", tname, "ssh", "key"), f"no such private key file: {key}",
                      "create one with ssh-keygen -t ed25519, or omit key to let iacorch generate one")
    for sname, svc in stack.services.items():
        if svc.build is not None:
            d = resolve_path(svc.build, base_dir)
            if not os.path.isfile(os.path.join(d, "Dockerfile")):
                r.add(("services", sname, "build"), f"no Dockerfile in {svc.build} ({d})")
    for lname, lb in stack.load_balancers.items():
        if lb.tls is None or lb.kind != "haproxy":  # an aws-alb's cert is an ACM ARN (checked above)
            continue
        if not os.path.isfile(resolve_path(lb.tls.cert, base_dir)):
            r.add(("load_balancers", lname, "tls", "cert"), f"no such certificate file: {lb.tls.cert}")


def resolve_path(path: str, base_dir: str) -> str:
    path = os.path.expanduser(path)
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(base_dir, path))
