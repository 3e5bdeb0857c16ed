"""Global instance templates: insert, get, list, delete. A template cannot be changed once made.

`properties` is checked like an instance request (machine type named bare).
When the operation runs, the machine type, images, networks and subnetworks
it names must exist. Network references are stored as full URLs, as the
real API returns them.
"""

from __future__ import annotations

import copy

from . import quotas
from .call import Call
from .catalogue import MACHINE_TYPES
from .clock import timestamp
from .errors import OperationError, resource_not_found
from .instance_creation import invalid_field, resolve_images, resolve_interface
from .instance_properties import PROPERTY_FIELDS, check_properties
from .listing import list_response
from .operations import begin
from .references import path_of, url
from .validation import description, object_field, only_fields, resource_name

FIELDS = frozenset({"kind", "id", "creationTimestamp", "name", "description", "properties", "selfLink"})


def _path(project: str, name: str) -> str:
    return f"projects/{project}/global/instanceTemplates/{name}"


def insert(call: Call) -> dict:
    body = call.resource()
    only_fields(body, {"name", "description", "properties"}, "resource")
    name = resource_name(body)
    description(body, "resource")
    properties = copy.deepcopy(object_field(body, "properties", "resource"))
    only_fields(properties, PROPERTY_FIELDS, "resource.properties")
    check_properties(properties, "resource.properties", call.project, zone=None)
    for interface in properties["networkInterfaces"]:
        for key in ("network", "subnetwork"):
            if key in interface:
                interface[key] = url(path_of(interface[key], call.project))
    world = call.world
    path = _path(call.project, name)
    world.claim_name(path)
    template_id = world.new_id()
    template = {
        "kind": "compute#instanceTemplate",
        "id": template_id,
        "creationTimestamp": timestamp(),
        "name": name,
        **({"description": body["description"]} if "description" in body else {}),
        "properties": properties,
        "selfLink": url(path),
    }

    def effect() -> OperationError | None:
        machine_type = properties["machineType"]
        if machine_type not in MACHINE_TYPES:
            return invalid_field(
                "resource.properties.machineType", f"Machine type '{machine_type}' does not exist."
            )
        images = resolve_images(properties["disks"], call.project)
        if isinstance(images, OperationError):
            return images
        for index, interface in enumerate(properties["networkInterfaces"]):
            resolved = resolve_interface(
                world, call.project, None, interface, f"resource.properties.networkInterfaces[{index}]"
            )
            if isinstance(resolved, OperationError):
                return resolved
        error = quotas.exceeded(world, call.project, {"INSTANCE_TEMPLATES": 1})
        if error is None:
            world.put(path, template)
        return error

    return begin(
        call,
        operation_type="insert",
        scope=f"projects/{call.project}/global",
        target=path,
        target_id=template_id,
        effect=effect,
        reserves=True,
    )


def get(call: Call) -> dict:
    return copy.deepcopy(call.world.existing(_path(call.project, call.params["instance_template"])))


def list_(call: Call) -> dict:
    collection = f"projects/{call.project}/global/instanceTemplates"
    return list_response(
        "compute#instanceTemplateList", collection, call.world.items(collection), call.query, FIELDS
    )


def delete(call: Call) -> dict:
    world = call.world
    path = _path(call.project, call.params["instance_template"])
    template_id = world.changeable(path)["id"]

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
        target_id=template_id,
        effect=effect,
    )
