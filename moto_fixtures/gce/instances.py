"""Zonal instances: insert (optionally from a template), get, list, aggregatedList, start, stop, delete.

An inserted instance appears when its operation is DONE, in PROVISIONING, and
walks on to STAGING and RUNNING (one step per GET of it, or per step of time).
stop puts it in STOPPING at once and TERMINATED when the operation is DONE,
releasing its ephemeral external IPs; start gives it new ones and walks it
through STAGING to RUNNING. delete puts it in STOPPING and removes it when DONE.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable

from . import quotas
from .addresses import external_ip
from .call import Call
from .catalogue import ZONES
from .clock import timestamp
from .errors import OperationError, not_ready, resource_not_found, unsupported
from .instance_creation import build_instance
from .instance_properties import PROPERTY_FIELDS, check_properties
from .listing import aggregated_response, list_response
from .operations import Effect, begin
from .references import INSTANCE_TEMPLATE_PATH, reference_path
from .validation import only_fields, resource_name
from .world import World

FIELDS = frozenset(
    {
        "kind", "id", "creationTimestamp", "name", "description", "tags", "machineType", "status", "zone",
        "canIpForward", "networkInterfaces", "disks", "metadata", "serviceAccounts", "selfLink", "scheduling",
        "cpuPlatform", "labels", "labelFingerprint", "startRestricted", "deletionProtection", "fingerprint",
        "lastStartTimestamp", "lastStopTimestamp",
    }
)  # fmt: skip
BOOTING = ("PROVISIONING", "STAGING", "RUNNING")
STARTING = ("STAGING", "RUNNING")


def instance_path(call: Call) -> str:
    return f"projects/{call.project}/zones/{call.params['zone']}/instances/{call.params['instance']}"


def _zone_scope(call: Call) -> str:
    return f"projects/{call.project}/zones/{call.params['zone']}"


def _with_template(call: Call, body: dict) -> dict:
    """The request merged over the template's properties: fields the request sets win."""
    reference = call.query["sourceInstanceTemplate"]
    path = reference_path("sourceInstanceTemplate", reference, call.project, INSTANCE_TEMPLATE_PATH)
    properties = copy.deepcopy(call.world.existing(path)["properties"])
    properties["machineType"] = f"zones/{call.params['zone']}/machineTypes/{properties['machineType']}"
    return {**properties, **body}


def insert(call: Call) -> dict:
    if "sourceMachineImage" in call.query:
        raise unsupported("sourceMachineImage")
    zone = call.params["zone"]
    body = call.resource()
    if "sourceInstanceTemplate" in call.query:
        body = _with_template(call, body)
    only_fields(body, PROPERTY_FIELDS | {"name"}, "resource")
    name = resource_name(body)
    check_properties(body, "resource", call.project, zone)
    world = call.world
    path = f"projects/{call.project}/zones/{zone}/instances/{name}"
    world.claim_name(path)
    instance_id = world.new_id()

    def effect() -> OperationError | None:
        instance = build_instance(world, call.project, zone, name, instance_id, body)
        if isinstance(instance, OperationError):
            return instance
        world.put(path, instance)
        world.walk_status(path, BOOTING, time.monotonic())
        return None

    return begin(
        call,
        operation_type="insert",
        scope=f"projects/{call.project}/zones/{zone}",
        target=path,
        target_id=instance_id,
        effect=effect,
        reserves=True,
    )


def get(call: Call) -> dict:
    path = instance_path(call)
    answer = copy.deepcopy(call.world.existing(path))
    call.world.observe_status(path, call.now)
    return answer


def list_(call: Call) -> dict:
    collection = f"{_zone_scope(call)}/instances"
    return list_response("compute#instanceList", collection, call.world.items(collection), call.query, FIELDS)


def aggregated_list(call: Call) -> dict:
    return aggregated_response(
        "compute#instanceAggregatedList",
        call.project,
        "instances",
        {
            f"zones/{zone}": items
            for zone, items in call.world.items_across(call.project, "zones", "instances").items()
        },
        [f"zones/{zone}" for zone in ZONES],
        call.query,
        FIELDS,
    )


def _instance_operation(
    call: Call, operation_type: str, effect: Effect, undo: Callable[[], None] | None = None
) -> dict:
    return begin(
        call,
        operation_type=operation_type,
        scope=_zone_scope(call),
        target=instance_path(call),
        target_id=call.world.existing(instance_path(call))["id"],
        effect=effect,
        undo=undo,
    )


def _stopping(world: World, path: str) -> Callable[[], None]:
    """Put the instance in STOPPING now; the returned function puts it back (a booting one as RUNNING)."""
    before = world.existing(path)["status"]
    restored = before if before in ("STOPPING", "TERMINATED") else "RUNNING"
    world.set_status(path, "STOPPING")

    def undo() -> None:
        if world.find(path) is not None:
            world.set_status(path, restored)

    return undo


def start(call: Call) -> dict:
    world = call.world
    path = instance_path(call)
    project, zone = call.project, call.params["zone"]
    if world.changeable(path)["status"] == "STOPPING":
        raise not_ready(path)

    def effect() -> OperationError | None:
        instance = world.find(path)
        if instance is None:
            return resource_not_found(path)
        if instance["status"] != "TERMINATED":
            return None
        accesses = [
            access for nic in instance["networkInterfaces"] for access in nic.get("accessConfigs", [])
        ]
        demand = {"CPUS": quotas.instance_cpus(instance), "IN_USE_ADDRESSES": len(accesses)}
        error = quotas.exceeded(world, project, demand, ZONES[zone])
        if error is not None:
            return error
        for access in accesses:
            nat_ip = external_ip(world, set())
            if isinstance(nat_ip, OperationError):
                return nat_ip
            access["natIP"] = nat_ip
        instance["lastStartTimestamp"] = timestamp()
        world.walk_status(path, STARTING, time.monotonic())
        return None

    return _instance_operation(call, "start", effect)


def stop(call: Call) -> dict:
    world = call.world
    path = instance_path(call)
    undo = None
    if world.changeable(path)["status"] not in ("STOPPING", "TERMINATED"):
        undo = _stopping(world, path)

    def effect() -> OperationError | None:
        instance = world.find(path)
        if instance is None:
            return resource_not_found(path)
        if instance["status"] == "STOPPING":
            world.set_status(path, "TERMINATED")
            instance["lastStopTimestamp"] = timestamp()
            for nic in instance["networkInterfaces"]:
                for access in nic.get("accessConfigs", []):
                    access.pop("natIP", None)
        return None

    return _instance_operation(call, "stop", effect, undo)


def delete(call: Call) -> dict:
    world = call.world
    path = instance_path(call)
    world.changeable(path)
    undo = _stopping(world, path)

    def effect() -> OperationError | None:
        if world.find(path) is None:
            return resource_not_found(path)
        world.remove(path)
        return None

    return _instance_operation(call, "delete", effect, undo)
