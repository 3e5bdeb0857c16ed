"""Read-only handlers over the catalogue: zones, regions (with live quota usage), machine types, images."""

from __future__ import annotations

from .call import Call
from .catalogue import (
    IMAGES,
    MACHINE_TYPES,
    REGIONS,
    ZONES,
    image_from_family,
    image_named,
    image_resource,
    machine_type_resource,
    region_resource,
    zone_resource,
)
from .errors import not_found
from .listing import list_response
from .quotas import region_quotas

ZONE_FIELDS = frozenset(
    {"kind", "id", "creationTimestamp", "name", "description", "status", "region", "selfLink"}
)
REGION_FIELDS = frozenset(
    {"kind", "id", "creationTimestamp", "name", "description", "status", "zones", "selfLink"}
)
MACHINE_TYPE_FIELDS = frozenset(
    {"kind", "id", "name", "description", "guestCpus", "memoryMb", "zone", "selfLink", "isSharedCpu"}
)
IMAGE_FIELDS = frozenset(
    {"kind", "id", "creationTimestamp", "name", "description", "status", "family", "diskSizeGb", "selfLink"}
)


def get_zone(call: Call) -> dict:
    return zone_resource(call.project, call.params["zone"])


def list_zones(call: Call) -> dict:
    zones = [zone_resource(call.project, zone) for zone in ZONES]
    return list_response("compute#zoneList", f"projects/{call.project}/zones", zones, call.query, ZONE_FIELDS)


def get_region(call: Call) -> dict:
    region = call.params["region"]
    return region_resource(call.project, region, region_quotas(call.world, call.project, region))


def list_regions(call: Call) -> dict:
    regions = [
        region_resource(call.project, region, region_quotas(call.world, call.project, region))
        for region in REGIONS
    ]
    return list_response(
        "compute#regionList", f"projects/{call.project}/regions", regions, call.query, REGION_FIELDS
    )


def get_machine_type(call: Call) -> dict:
    zone, name = call.params["zone"], call.params["machine_type"]
    if name not in MACHINE_TYPES:
        raise not_found(f"projects/{call.project}/zones/{zone}/machineTypes/{name}")
    return machine_type_resource(call.project, zone, MACHINE_TYPES[name])


def list_machine_types(call: Call) -> dict:
    zone = call.params["zone"]
    machines = [machine_type_resource(call.project, zone, machine) for machine in MACHINE_TYPES.values()]
    collection = f"projects/{call.project}/zones/{zone}/machineTypes"
    return list_response("compute#machineTypeList", collection, machines, call.query, MACHINE_TYPE_FIELDS)


def get_image(call: Call) -> dict:
    image = image_named(call.project, call.params["image"])
    if image is None:
        raise not_found(f"projects/{call.project}/global/images/{call.params['image']}")
    return image_resource(image)


def get_image_from_family(call: Call) -> dict:
    image = image_from_family(call.project, call.params["family"])
    if image is None:
        raise not_found(f"projects/{call.project}/global/images/family/{call.params['family']}")
    return image_resource(image)


def list_images(call: Call) -> dict:
    images = [image_resource(image) for image in IMAGES if image.project == call.project]
    collection = f"projects/{call.project}/global/images"
    return list_response("compute#imageList", collection, images, call.query, IMAGE_FIELDS)
