"""Regional subnetworks: insert, get, list, aggregatedList, patch, delete.

A subnetwork's range must be a canonical IPv4 CIDR from /8 to /29 (400
otherwise) and must not overlap another subnetwork of the same network (the
operation fails). Its network must exist when the operation runs.
"""

from __future__ import annotations

import copy
import ipaddress

from . import quotas
from .call import Call
from .catalogue import REGIONS
from .clock import timestamp
from .dependents import instances_attached, subnetworks_of
from .errors import OperationError, invalid, invalid_usage, resource_in_use, resource_not_found
from .fingerprints import fingerprint, require_current
from .listing import aggregated_response, list_response
from .operations import begin
from .references import NETWORK_PATH, name_of, path_from_url, reference_path, url
from .validation import boolean_field, description, ipv4_cidr, only_fields, resource_name
from .world import World

FIELDS = frozenset(
    {
        "kind", "id", "creationTimestamp", "name", "description", "network", "ipCidrRange", "gatewayAddress",
        "region", "selfLink", "privateIpGoogleAccess", "fingerprint", "stackType", "purpose",
    }
)  # fmt: skip
INSERT_FIELDS = {
    "name",
    "description",
    "network",
    "ipCidrRange",
    "region",
    "privateIpGoogleAccess",
    "purpose",
    "stackType",
}
PATCHABLE_FIELDS = {"description", "privateIpGoogleAccess"}

AUTO_MODE_RANGES = {
    "asia-east1": "10.140.0.0/20",
    "europe-west1": "10.132.0.0/20",
    "europe-west4": "10.164.0.0/20",
    "us-central1": "10.128.0.0/20",
    "us-east1": "10.142.0.0/20",
}


def _path_for(project: str, region: str, name: str) -> str:
    return f"projects/{project}/regions/{region}/subnetworks/{name}"


def _path(call: Call) -> str:
    return _path_for(call.project, call.params["region"], call.params["subnetwork"])


def _with_fingerprint(subnetwork: dict) -> dict:
    subnetwork["fingerprint"] = fingerprint({k: v for k, v in subnetwork.items() if k != "fingerprint"})
    return subnetwork


def record(world: World, path: str, network_path: str, cidr: str, details: dict) -> dict:
    """A new subnetwork resource; `details` holds description and privateIpGoogleAccess."""
    project, region = path.split("/")[1], path.split("/")[3]
    subnetwork = {
        "kind": "compute#subnetwork",
        "id": world.new_id(),
        "creationTimestamp": timestamp(),
        "name": name_of(path),
        **details,
        "network": url(network_path),
        "ipCidrRange": cidr,
        "gatewayAddress": str(ipaddress.IPv4Network(cidr)[1]),
        "region": url(f"projects/{project}/regions/{region}"),
        "selfLink": url(path),
        "stackType": "IPV4_ONLY",
        "purpose": "PRIVATE",
    }
    return _with_fingerprint(subnetwork)


def add(world: World, path: str, subnetwork: dict) -> None:
    world.put(path, subnetwork)
    world.existing(path_from_url(subnetwork["network"])).setdefault("subnetworks", []).append(
        subnetwork["selfLink"]
    )


def is_auto_created(world: World, subnetwork: dict) -> bool:
    network = world.find(path_from_url(subnetwork["network"]))
    region = name_of(subnetwork["region"])
    return bool(
        network
        and network["autoCreateSubnetworks"]
        and subnetwork["name"] == network["name"]
        and subnetwork["ipCidrRange"] == AUTO_MODE_RANGES[region]
    )


def remove(world: World, path: str) -> None:
    subnetwork = world.existing(path)
    network = world.find(path_from_url(subnetwork["network"]))
    if network is not None:
        network["subnetworks"].remove(subnetwork["selfLink"])
    world.remove(path)


def insert(call: Call) -> dict:
    body = call.resource()
    only_fields(body, INSERT_FIELDS, "resource")
    name = resource_name(body)
    description(body, "resource")
    region = call.params["region"]
    given_region = body.get("region", region)
    if not isinstance(given_region, str) or given_region.rsplit("/", 1)[-1] != region:
        raise invalid("resource.region", given_region, f"Must be the region of the request, '{region}'.")
    if body.get("purpose", "PRIVATE") != "PRIVATE" or body.get("stackType", "IPV4_ONLY") != "IPV4_ONLY":
        raise invalid(
            "resource.purpose", body.get("purpose"), "Only PRIVATE IPV4_ONLY subnetworks are supported."
        )
    network_path = reference_path("resource.network", body.get("network"), call.project, NETWORK_PATH)
    cidr = ipv4_cidr(body.get("ipCidrRange"), "resource.ipCidrRange", min_prefix=8, max_prefix=29)
    details = {"privateIpGoogleAccess": boolean_field(body, "privateIpGoogleAccess", "resource", False)}
    if "description" in body:
        details["description"] = body["description"]
    path = _path_for(call.project, region, name)
    world = call.world
    world.claim_name(path)
    subnetwork = record(world, path, network_path, cidr, details)

    def effect() -> OperationError | None:
        if world.find(network_path) is None:
            return resource_not_found(network_path)
        new_range = ipaddress.IPv4Network(cidr)
        for other in subnetworks_of(world, call.project, network_path):
            if ipaddress.IPv4Network(other["ipCidrRange"]).overlaps(new_range):
                return invalid_usage(
                    f"Invalid IPCidrRange: {cidr} conflicts with existing subnetwork '{other['name']}' "
                    f"in region '{name_of(other['region'])}'."
                )
        error = quotas.exceeded(world, call.project, {"SUBNETWORKS": 1})
        if error is None:
            add(world, path, subnetwork)
        return error

    return begin(
        call,
        operation_type="insert",
        scope=f"projects/{call.project}/regions/{region}",
        target=path,
        target_id=subnetwork["id"],
        effect=effect,
        reserves=True,
    )


def get(call: Call) -> dict:
    return copy.deepcopy(call.world.existing(_path(call)))


def list_(call: Call) -> dict:
    collection = f"projects/{call.project}/regions/{call.params['region']}/subnetworks"
    return list_response(
        "compute#subnetworkList", collection, call.world.items(collection), call.query, FIELDS
    )


def aggregated_list(call: Call) -> dict:
    return aggregated_response(
        "compute#subnetworkAggregatedList",
        call.project,
        "subnetworks",
        {
            f"regions/{region}": items
            for region, items in call.world.items_across(call.project, "regions", "subnetworks").items()
        },
        [f"regions/{region}" for region in REGIONS],
        call.query,
        FIELDS,
    )


def patch(call: Call) -> dict:
    path = _path(call)
    world = call.world
    current = world.changeable(path)
    body = call.resource()
    require_current(body.get("fingerprint"), current["fingerprint"], "resource.fingerprint", "subnetwork")
    for key, value in body.items():
        if key != "fingerprint" and key not in PATCHABLE_FIELDS and value != current.get(key):
            raise invalid(f"resource.{key}", value, "This field cannot be changed by patch.")
    changes = {key: body[key] for key in PATCHABLE_FIELDS if key in body}
    description(changes, "resource")
    boolean_field(changes, "privateIpGoogleAccess", "resource", False)
    expected = current["fingerprint"]

    def effect() -> OperationError | None:
        subnetwork = world.find(path)
        if subnetwork is None:
            return resource_not_found(path)
        if subnetwork["fingerprint"] != expected:
            return OperationError(
                "CONDITION_NOT_MET", "Supplied fingerprint does not match current fingerprint.", 412
            )
        subnetwork.update(changes)
        _with_fingerprint(subnetwork)
        return None

    return begin(
        call,
        operation_type="patch",
        scope=f"projects/{call.project}/regions/{call.params['region']}",
        target=path,
        target_id=current["id"],
        effect=effect,
    )


def delete(call: Call) -> dict:
    path = _path(call)
    world = call.world
    current = world.changeable(path)

    def effect() -> OperationError | None:
        subnetwork = world.find(path)
        if subnetwork is None:
            return resource_not_found(path)
        if is_auto_created(world, subnetwork):
            return invalid_usage("Cannot delete auto subnetwork from an auto subnet mode network.")
        users = instances_attached(world, call.project, "subnetwork", path)
        if users:
            return resource_in_use("subnetwork", path, path_from_url(users[0]["selfLink"]))
        remove(world, path)
        return None

    return begin(
        call,
        operation_type="delete",
        scope=f"projects/{call.project}/regions/{call.params['region']}",
        target=path,
        target_id=current["id"],
        effect=effect,
    )
