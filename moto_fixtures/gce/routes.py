"""The route table: HTTP method and path template, as google-cloud-compute's REST transport sends them,
mapped to the API method id (``compute.instances.insert``) and its handler."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from . import (
    catalogue_api,
    firewalls,
    instance_metadata,
    instance_templates,
    instances,
    networks,
    operations_api,
    subnetworks,
)
from .call import Call

PREFIX = "/compute/v1/projects/{project}"


@dataclass(frozen=True)
class Route:
    http_method: str
    template: str
    method_id: str
    handler: Callable[[Call], dict]
    returns_operation: bool


def _pattern(template: str) -> re.Pattern[str]:
    """`{name}` segments become named groups."""
    return re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)))


def _routes() -> list[Route]:
    # fmt: off
    reads = [
        ("GET", "/zones", "zones.list", catalogue_api.list_zones),
        ("GET", "/zones/{zone}", "zones.get", catalogue_api.get_zone),
        ("GET", "/regions", "regions.list", catalogue_api.list_regions),
        ("GET", "/regions/{region}", "regions.get", catalogue_api.get_region),
        ("GET", "/zones/{zone}/machineTypes", "machineTypes.list", catalogue_api.list_machine_types),
        ("GET", "/zones/{zone}/machineTypes/{machine_type}", "machineTypes.get", catalogue_api.get_machine_type),
        ("GET", "/global/images", "images.list", catalogue_api.list_images),
        ("GET", "/global/images/{image}", "images.get", catalogue_api.get_image),
        ("GET", "/global/images/family/{family}", "images.getFromFamily", catalogue_api.get_image_from_family),
        ("GET", "/global/networks", "networks.list", networks.list_),
        ("GET", "/global/networks/{network}", "networks.get", networks.get),
        ("GET", "/regions/{region}/subnetworks", "subnetworks.list", subnetworks.list_),
        ("GET", "/regions/{region}/subnetworks/{subnetwork}", "subnetworks.get", subnetworks.get),
        ("GET", "/aggregated/subnetworks", "subnetworks.aggregatedList", subnetworks.aggregated_list),
        ("GET", "/global/firewalls", "firewalls.list", firewalls.list_),
        ("GET", "/global/firewalls/{firewall}", "firewalls.get", firewalls.get),
        ("GET", "/global/instanceTemplates", "instanceTemplates.list", instance_templates.list_),
        ("GET", "/global/instanceTemplates/{instance_template}", "instanceTemplates.get", instance_templates.get),
        ("GET", "/zones/{zone}/instances", "instances.list", instances.list_),
        ("GET", "/zones/{zone}/instances/{instance}", "instances.get", instances.get),
        ("GET", "/aggregated/instances", "instances.aggregatedList", instances.aggregated_list),
    ]
    for scope, prefix in (("zone", "/zones/{zone}"), ("region", "/regions/{region}"), ("global", "/global")):
        reads += [
            ("GET", f"{prefix}/operations", f"{scope}Operations.list", operations_api.list_),
            ("GET", f"{prefix}/operations/{{operation}}", f"{scope}Operations.get", operations_api.get),
            ("DELETE", f"{prefix}/operations/{{operation}}", f"{scope}Operations.delete", operations_api.delete),
            ("POST", f"{prefix}/operations/{{operation}}/wait", f"{scope}Operations.wait", operations_api.wait),
        ]
    mutations = [
        ("POST", "/global/networks", "networks.insert", networks.insert),
        ("DELETE", "/global/networks/{network}", "networks.delete", networks.delete),
        ("POST", "/regions/{region}/subnetworks", "subnetworks.insert", subnetworks.insert),
        ("PATCH", "/regions/{region}/subnetworks/{subnetwork}", "subnetworks.patch", subnetworks.patch),
        ("DELETE", "/regions/{region}/subnetworks/{subnetwork}", "subnetworks.delete", subnetworks.delete),
        ("POST", "/global/firewalls", "firewalls.insert", firewalls.insert),
        ("PATCH", "/global/firewalls/{firewall}", "firewalls.patch", firewalls.patch),
        ("PUT", "/global/firewalls/{firewall}", "firewalls.update", firewalls.update),
        ("DELETE", "/global/firewalls/{firewall}", "firewalls.delete", firewalls.delete),
        ("POST", "/global/instanceTemplates", "instanceTemplates.insert", instance_templates.insert),
        ("DELETE", "/global/instanceTemplates/{instance_template}", "instanceTemplates.delete", instance_templates.delete),
        ("POST", "/zones/{zone}/instances", "instances.insert", instances.insert),
        ("DELETE", "/zones/{zone}/instances/{instance}", "instances.delete", instances.delete),
        ("POST", "/zones/{zone}/instances/{instance}/start", "instances.start", instances.start),
        ("POST", "/zones/{zone}/instances/{instance}/stop", "instances.stop", instances.stop),
        ("POST", "/zones/{zone}/instances/{instance}/setLabels", "instances.setLabels", instance_metadata.set_labels),
        ("POST", "/zones/{zone}/instances/{instance}/setTags", "instances.setTags", instance_metadata.set_tags),
        ("POST", "/zones/{zone}/instances/{instance}/setMetadata", "instances.setMetadata", instance_metadata.set_metadata),
    ]
    # fmt: on
    return [
        Route(method, PREFIX + template, f"compute.{method_id}", handler, returns_operation)
        for returns_operation, table in ((False, reads), (True, mutations))
        for method, template, method_id, handler in table
    ]


ROUTES = _routes()
METHOD_IDS = frozenset(route.method_id for route in ROUTES)
OPERATION_METHOD_IDS = frozenset(route.method_id for route in ROUTES if route.returns_operation)
_COMPILED = [(route, _pattern(route.template)) for route in ROUTES]


def match(http_method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route, pattern in _COMPILED:
        if route.http_method == http_method and (found := pattern.fullmatch(path)):
            return route, found.groupdict()
    return None
