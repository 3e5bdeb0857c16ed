"""Global VPC networks: insert, get, list, delete.

`autoCreateSubnetworks` must be given (true: auto mode, one subnetwork per
region on Google's 10.128.0.0/9 plan; false: custom mode); legacy networks are
not modelled. Deleting a network that still has custom subnetworks, firewalls
or instances fails in the operation with RESOURCE_IN_USE_BY_ANOTHER_RESOURCE;
an auto mode network takes its own subnetworks with it.
"""

from __future__ import annotations

import copy

from . import quotas, subnetworks
from .call import Call
from .clock import timestamp
from .dependents import firewalls_of, instances_attached, subnetworks_of
from .errors import OperationError, invalid, resource_in_use, resource_not_found
from .listing import list_response
from .operations import begin
from .references import path_from_url, url
from .validation import boolean_field, description, integer, only_fields, resource_name

FIELDS = frozenset(
    {
        "kind", "id", "creationTimestamp", "name", "description", "selfLink", "selfLinkWithId",
        "autoCreateSubnetworks", "subnetworks", "routingConfig", "mtu", "networkFirewallPolicyEnforcementOrder",
    }
)  # fmt: skip
INSERT_FIELDS = {"name", "description", "autoCreateSubnetworks", "routingConfig", "mtu"}
ROUTING_MODES = ("REGIONAL", "GLOBAL")


def _path(project: str, name: str) -> str:
    return f"projects/{project}/global/networks/{name}"


def insert(call: Call) -> dict:
    body = call.resource()
    only_fields(body, INSERT_FIELDS, "resource")
    name = resource_name(body)
    description(body, "resource")
    if "autoCreateSubnetworks" not in body:
        raise invalid(
            "resource.autoCreateSubnetworks",
            "",
            "Set true (auto mode) or false (custom mode); legacy networks are not supported.",
        )
    auto_mode = boolean_field(body, "autoCreateSubnetworks", "resource", False)
    routing = body.get("routingConfig", {})
    only_fields(routing, {"routingMode"}, "resource.routingConfig")
    routing_mode = routing.get("routingMode", "REGIONAL")
    if routing_mode not in ROUTING_MODES:
        raise invalid("resource.routingConfig.routingMode", routing_mode, f"Must be one of {ROUTING_MODES}.")
    world = call.world
    path = _path(call.project, name)
    world.claim_name(path)
    network_id = world.new_id()
    network = {
        "kind": "compute#network",
        "id": network_id,
        "creationTimestamp": timestamp(),
        "name": name,
        "selfLink": url(path),
        "selfLinkWithId": url(_path(call.project, network_id)),
        "autoCreateSubnetworks": auto_mode,
        "routingConfig": {"routingMode": routing_mode},
        "mtu": integer(body.get("mtu", 1460), "resource.mtu", 1300, 8896),
        "networkFirewallPolicyEnforcementOrder": "AFTER_CLASSIC_FIREWALL",
    }
    if "description" in body:
        network["description"] = body["description"]

    def effect() -> OperationError | None:
        error = quotas.exceeded(world, call.project, {"NETWORKS": 1})
        if error is not None:
            return error
        world.put(path, network)
        if auto_mode:
            for region, cidr in subnetworks.AUTO_MODE_RANGES.items():
                subnetwork_path = f"projects/{call.project}/regions/{region}/subnetworks/{name}"
                details = {"privateIpGoogleAccess": False}
                subnetworks.add(
                    world, subnetwork_path, subnetworks.record(world, subnetwork_path, path, cidr, details)
                )
        return None

    return begin(
        call,
        operation_type="insert",
        scope=f"projects/{call.project}/global",
        target=path,
        target_id=network_id,
        effect=effect,
        reserves=True,
    )


def get(call: Call) -> dict:
    return copy.deepcopy(call.world.existing(_path(call.project, call.params["network"])))


def list_(call: Call) -> dict:
    collection = f"projects/{call.project}/global/networks"
    return list_response("compute#networkList", collection, call.world.items(collection), call.query, FIELDS)


def delete(call: Call) -> dict:
    world = call.world
    path = _path(call.project, call.params["network"])
    network_id = world.changeable(path)["id"]

    def effect() -> OperationError | None:
        if world.find(path) is None:
            return resource_not_found(path)
        owned = [
            s for s in subnetworks_of(world, call.project, path) if subnetworks.is_auto_created(world, s)
        ]
        users = (
            [s for s in subnetworks_of(world, call.project, path) if s not in owned]
            + firewalls_of(world, call.project, path)
            + instances_attached(world, call.project, "network", path)
        )
        if users:
            return resource_in_use("network", path, path_from_url(users[0]["selfLink"]))
        for subnetwork in owned:
            subnetworks.remove(world, path_from_url(subnetwork["selfLink"]))
        world.remove(path)
        return None

    return begin(
        call,
        operation_type="delete",
        scope=f"projects/{call.project}/global",
        target=path,
        target_id=network_id,
        effect=effect,
    )
