"""Global VPC firewall rules: insert, get, list, patch, update, delete.

Checked as the real API does: exactly one of `allowed` / `denied`; protocols
and port ranges; INGRESS needs a source (ranges or tags) and takes no
destination tags, EGRESS takes no source; priority 0..65535. A rule's network
must exist when its operation runs. `patch` merges the fields sent into the
rule; `update` replaces the rule (name and network stay).
"""

from __future__ import annotations

import copy
import ipaddress
import re

from . import quotas
from .call import Call
from .clock import timestamp
from .errors import OperationError, invalid, required, resource_not_found
from .listing import list_response
from .operations import begin
from .references import NETWORK_PATH, reference_path, url
from .validation import (
    boolean_field,
    description,
    integer,
    list_field,
    network_tags,
    only_fields,
    resource_name,
)

SPEC_FIELDS = {
    "name", "description", "network", "priority", "direction", "allowed", "denied", "sourceRanges",
    "destinationRanges", "sourceTags", "targetTags", "disabled", "logConfig",
}  # fmt: skip
OUTPUT_FIELDS = {"kind", "id", "creationTimestamp", "selfLink"}
FIELDS = frozenset(SPEC_FIELDS | OUTPUT_FIELDS)
PROTOCOLS = {"tcp", "udp", "icmp", "esp", "ah", "sctp", "ipip", "all"}
PORTED_PROTOCOLS = {"tcp", "udp", "sctp"}
PORT = re.compile(r"(\d{1,5})(?:-(\d{1,5}))?")


def _path(project: str, name: str) -> str:
    return f"projects/{project}/global/firewalls/{name}"


def _rules(rules: list, field_name: str) -> list[dict]:
    checked = []
    for index, rule in enumerate(rules):
        prefix = f"{field_name}[{index}]"
        if not isinstance(rule, dict):
            raise invalid(prefix, rule, "Must be an object.")
        only_fields(rule, {"IPProtocol", "ports"}, prefix)
        protocol = rule.get("IPProtocol")
        if protocol is None:
            raise required(f"{prefix}.IPProtocol")
        if protocol not in PROTOCOLS and not (
            isinstance(protocol, str) and protocol.isdigit() and int(protocol) < 256
        ):
            raise invalid(f"{prefix}.IPProtocol", protocol, f"Must be one of {sorted(PROTOCOLS)} or 0..255.")
        ports = list_field(rule, "ports", prefix)
        if ports and protocol not in PORTED_PROTOCOLS:
            raise invalid(f"{prefix}.ports", ports, "Ports can only be given for tcp, udp and sctp.")
        for port in ports:
            match = PORT.fullmatch(port) if isinstance(port, str) else None
            low, high = (int(match[1]), int(match[2] or match[1])) if match else (1, 0)
            if not 0 <= low <= high <= 65535:
                raise invalid(
                    f"{prefix}.ports", port, "Must be a port or a range like 8000-8080, within 0..65535."
                )
        checked.append({"IPProtocol": protocol, **({"ports": ports} if ports else {})})
    return checked


def _ranges(body: dict, key: str) -> list[str]:
    ranges = list_field(body, key, "resource")
    for value in ranges:
        try:
            ipaddress.ip_network(value, strict=False)
        except (ValueError, TypeError):
            raise invalid(f"resource.{key}", value, "Must be an IP address or CIDR range.") from None
    return ranges


def _spec(body: dict, project: str) -> tuple[dict, str]:
    """The rule's fields as stored (minus ids and links), and its network's path."""
    only_fields(body, SPEC_FIELDS, "resource")
    description(body, "resource")
    network_path = reference_path(
        "resource.network", body.get("network", "global/networks/default"), project, NETWORK_PATH
    )
    direction = body.get("direction", "INGRESS")
    if direction not in ("INGRESS", "EGRESS"):
        raise invalid("resource.direction", direction, "Must be INGRESS or EGRESS.")
    allowed = _rules(list_field(body, "allowed", "resource"), "resource.allowed")
    denied = _rules(list_field(body, "denied", "resource"), "resource.denied")
    if bool(allowed) == bool(denied):
        raise invalid("resource", body.get("name"), "Exactly one of 'allowed' or 'denied' must be specified.")
    spec = {
        "name": body["name"],
        "network": url(network_path),
        "priority": integer(body.get("priority", 1000), "resource.priority", 0, 65535),
        "direction": direction,
        "allowed" if allowed else "denied": allowed or denied,
        "disabled": boolean_field(body, "disabled", "resource", False),
        "logConfig": {
            "enable": boolean_field(body.get("logConfig", {}), "enable", "resource.logConfig", False)
        },
    }
    for key in ("sourceRanges", "destinationRanges"):
        if ranges := _ranges(body, key):
            spec[key] = ranges
    for key in ("sourceTags", "targetTags"):
        if tags := network_tags(list_field(body, key, "resource"), f"resource.{key}"):
            spec[key] = tags
    if direction == "INGRESS" and not (spec.get("sourceRanges") or spec.get("sourceTags")):
        raise required("resource.sourceRanges")
    if direction == "EGRESS" and (spec.get("sourceRanges") or spec.get("sourceTags")):
        raise invalid("resource.sourceRanges", spec.get("sourceRanges"), "EGRESS rules take no sources.")
    if direction == "EGRESS":
        spec.setdefault("destinationRanges", ["0.0.0.0/0"])
    if "description" in body:
        spec["description"] = body["description"]
    return spec, network_path


def insert(call: Call) -> dict:
    body = call.resource()
    name = resource_name(body)
    spec, network_path = _spec(body, call.project)
    world = call.world
    path = _path(call.project, name)
    world.claim_name(path)
    firewall_id = world.new_id()
    firewall = {
        "kind": "compute#firewall",
        "id": firewall_id,
        "creationTimestamp": timestamp(),
        **spec,
        "selfLink": url(path),
    }

    def effect() -> OperationError | None:
        if world.find(network_path) is None:
            return resource_not_found(network_path)
        error = quotas.exceeded(world, call.project, {"FIREWALLS": 1})
        if error is None:
            world.put(path, firewall)
        return error

    return begin(
        call,
        operation_type="insert",
        scope=f"projects/{call.project}/global",
        target=path,
        target_id=firewall_id,
        effect=effect,
        reserves=True,
    )


def get(call: Call) -> dict:
    return copy.deepcopy(call.world.existing(_path(call.project, call.params["firewall"])))


def list_(call: Call) -> dict:
    collection = f"projects/{call.project}/global/firewalls"
    return list_response("compute#firewallList", collection, call.world.items(collection), call.query, FIELDS)


def _change(call: Call, operation_type: str, merge: bool) -> dict:
    world = call.world
    path = _path(call.project, call.params["firewall"])
    current = world.changeable(path)
    body = {key: value for key, value in call.resource().items() if key not in OUTPUT_FIELDS}
    if body.get("name", current["name"]) != current["name"]:
        raise invalid("resource.name", body["name"], "The name of a firewall rule cannot be changed.")
    kept = {key: value for key, value in current.items() if key in SPEC_FIELDS} if merge else {}
    spec, network_path = _spec(
        {**kept, "name": current["name"], "network": current["network"], **body}, call.project
    )
    if url(network_path) != current["network"]:
        raise invalid(
            "resource.network", body.get("network"), "The network of a firewall rule cannot be changed."
        )

    def effect() -> OperationError | None:
        firewall = world.find(path)
        if firewall is None:
            return resource_not_found(path)
        for key in SPEC_FIELDS - spec.keys():
            firewall.pop(key, None)
        firewall.update(spec)
        return None

    return begin(
        call,
        operation_type=operation_type,
        scope=f"projects/{call.project}/global",
        target=path,
        target_id=current["id"],
        effect=effect,
    )


def patch(call: Call) -> dict:
    return _change(call, "patch", merge=True)


def update(call: Call) -> dict:
    return _change(call, "update", merge=False)


def delete(call: Call) -> dict:
    world = call.world
    path = _path(call.project, call.params["firewall"])
    firewall_id = world.changeable(path)["id"]

    def effect() -> OperationError | None:
        if world.find(path) is None:
            return resource_not_found(path)
        world.remove(path)
        return None

    return begin(
        call,
        operation_type="delete",
        scope=f"projects/{call.project}/global",
        target=path,
        target_id=firewall_id,
        effect=effect,
    )
