"""The synchronous checks of what an instance is made of, shared by instances and instance templates.

An instance names its machine type by zonal URL (``zones/z/machineTypes/e2-small``)
in its own zone; a template names it bare (``e2-small``). Boot disks come from
an image (``initializeParams.sourceImage``); network interfaces name a network
and/or subnetwork and may ask for one ephemeral external IP (an ONE_TO_ONE_NAT
access config). Whether the referenced things exist is checked later, when
the operation runs.
"""

from __future__ import annotations

import ipaddress
import re

from .catalogue import ZONES
from .errors import invalid, required, unsupported
from .references import NETWORK_PATH, SUBNETWORK_PATH, reference_path
from .validation import (
    boolean_field,
    description,
    integer,
    labels,
    list_field,
    metadata_items,
    network_tags,
    object_field,
    only_fields,
    string_field,
)

PROPERTY_FIELDS = {
    "description", "machineType", "labels", "tags", "metadata", "disks", "networkInterfaces", "serviceAccounts",
    "scheduling", "canIpForward",
}  # fmt: skip
DISK_FIELDS = {"boot", "autoDelete", "initializeParams", "type", "mode", "deviceName"}
INITIALIZE_FIELDS = {"sourceImage", "diskSizeGb", "diskType", "diskName"}
INTERFACE_FIELDS = {"network", "subnetwork", "networkIP", "accessConfigs", "stackType"}
ACCESS_FIELDS = {"type", "name", "networkTier"}
SCHEDULING_FIELDS = {"preemptible", "automaticRestart", "onHostMaintenance", "provisioningModel"}
IMAGE_PATH = r"projects/[^/]+/global/images/(?:family/)?[^/]+"
DISK_TYPES = ("pd-standard", "pd-balanced", "pd-ssd")
MAX_INTERFACES = 8


def check_properties(properties: dict, prefix: str, project: str, zone: str | None) -> None:
    """Raise ApiError (400) for anything the API refuses at once; `zone` is None for a template."""
    description(properties, prefix)
    _machine_type(properties, prefix, project, zone)
    labels(properties.get("labels"), f"{prefix}.labels")
    tags = properties.get("tags", {})
    only_fields(tags, {"items", "fingerprint"}, f"{prefix}.tags")
    network_tags(tags.get("items", []), f"{prefix}.tags.items")
    metadata = properties.get("metadata", {})
    only_fields(metadata, {"items", "fingerprint", "kind"}, f"{prefix}.metadata")
    metadata_items(metadata.get("items", []), f"{prefix}.metadata.items")
    _disks(list_field(properties, "disks", prefix), f"{prefix}.disks", project)
    _interfaces(
        list_field(properties, "networkInterfaces", prefix), f"{prefix}.networkInterfaces", project, zone
    )
    _scheduling(properties.get("scheduling", {}), f"{prefix}.scheduling")
    for index, account in enumerate(list_field(properties, "serviceAccounts", prefix)):
        only_fields(account, {"email", "scopes"}, f"{prefix}.serviceAccounts[{index}]")
        string_field(account, "email", f"{prefix}.serviceAccounts[{index}]")
    boolean_field(properties, "canIpForward", prefix, False)


def _machine_type(properties: dict, prefix: str, project: str, zone: str | None) -> None:
    machine_type = string_field(properties, "machineType", prefix)
    if zone is None:
        if not re.fullmatch(r"[a-z0-9-]+", machine_type):
            raise invalid(
                f"{prefix}.machineType",
                machine_type,
                "A template names its machine type bare, e.g. 'e2-small'.",
            )
        return
    reference_path(
        f"{prefix}.machineType",
        machine_type,
        project,
        rf"projects/{re.escape(project)}/zones/{zone}/machineTypes/[a-z0-9-]+",
    )


def _disks(disks: list, prefix: str, project: str) -> None:
    if not disks:
        raise invalid(prefix, "", "Boot disk must be specified.")
    for index, disk in enumerate(disks):
        disk_prefix = f"{prefix}[{index}]"
        only_fields(disk, DISK_FIELDS, disk_prefix)
        boot = boolean_field(disk, "boot", disk_prefix, False)
        if boot != (index == 0):
            raise invalid(
                prefix, "", "Boot disk must be the first disk attached to the instance, and only one."
            )
        if disk.get("type", "PERSISTENT") != "PERSISTENT" or disk.get("mode", "READ_WRITE") != "READ_WRITE":
            raise unsupported(f"{disk_prefix}.type")
        boolean_field(disk, "autoDelete", disk_prefix, False)
        params = object_field(disk, "initializeParams", disk_prefix)
        only_fields(params, INITIALIZE_FIELDS, f"{disk_prefix}.initializeParams")
        reference_path(
            f"{disk_prefix}.initializeParams.sourceImage", params.get("sourceImage"), project, IMAGE_PATH
        )
        if "diskSizeGb" in params:
            integer(params["diskSizeGb"], f"{disk_prefix}.initializeParams.diskSizeGb", 1, 65536)
        disk_type = params.get("diskType", "pd-standard")
        if not isinstance(disk_type, str) or disk_type.rsplit("/", 1)[-1] not in DISK_TYPES:
            raise invalid(
                f"{disk_prefix}.initializeParams.diskType", disk_type, f"Must be one of {DISK_TYPES}."
            )


def _interfaces(interfaces: list, prefix: str, project: str, zone: str | None) -> None:
    if not interfaces:
        raise required(f"{prefix}[0]")
    if len(interfaces) > MAX_INTERFACES:
        raise invalid(prefix, len(interfaces), f"At most {MAX_INTERFACES} network interfaces are allowed.")
    for index, interface in enumerate(interfaces):
        nic_prefix = f"{prefix}[{index}]"
        only_fields(interface, INTERFACE_FIELDS, nic_prefix)
        if "network" in interface:
            reference_path(f"{nic_prefix}.network", interface["network"], project, NETWORK_PATH)
        if "subnetwork" in interface:
            subnetwork = reference_path(
                f"{nic_prefix}.subnetwork", interface["subnetwork"], project, SUBNETWORK_PATH
            )
            if zone is not None and subnetwork.split("/")[3] != ZONES[zone]:
                raise invalid(
                    f"{nic_prefix}.subnetwork", interface["subnetwork"], f"Must be in region '{ZONES[zone]}'."
                )
        if "networkIP" in interface:
            try:
                ipaddress.IPv4Address(interface["networkIP"])
            except ValueError:
                raise invalid(
                    f"{nic_prefix}.networkIP", interface["networkIP"], "Must be an IPv4 address."
                ) from None
        if interface.get("stackType", "IPV4_ONLY") != "IPV4_ONLY":
            raise unsupported(f"{nic_prefix}.stackType")
        access_configs = list_field(interface, "accessConfigs", nic_prefix)
        if len(access_configs) > 1:
            raise invalid(
                f"{nic_prefix}.accessConfigs", len(access_configs), "At most one access config is allowed."
            )
        for access in access_configs:
            only_fields(access, ACCESS_FIELDS, f"{nic_prefix}.accessConfigs[0]")
            if access.get("type", "ONE_TO_ONE_NAT") != "ONE_TO_ONE_NAT":
                raise invalid(
                    f"{nic_prefix}.accessConfigs[0].type", access["type"], "Must be ONE_TO_ONE_NAT."
                )
            if access.get("networkTier", "PREMIUM") not in ("PREMIUM", "STANDARD"):
                raise invalid(
                    f"{nic_prefix}.accessConfigs[0].networkTier",
                    access["networkTier"],
                    "PREMIUM or STANDARD.",
                )


def _scheduling(scheduling: dict, prefix: str) -> None:
    only_fields(scheduling, SCHEDULING_FIELDS, prefix)
    preemptible = boolean_field(scheduling, "preemptible", prefix, False)
    spot = scheduling.get("provisioningModel", "STANDARD")
    if spot not in ("STANDARD", "SPOT"):
        raise invalid(f"{prefix}.provisioningModel", spot, "Must be STANDARD or SPOT.")
    maintenance = scheduling.get(
        "onHostMaintenance", "TERMINATE" if preemptible or spot == "SPOT" else "MIGRATE"
    )
    if maintenance not in ("MIGRATE", "TERMINATE"):
        raise invalid(f"{prefix}.onHostMaintenance", maintenance, "Must be MIGRATE or TERMINATE.")
    restart = boolean_field(scheduling, "automaticRestart", prefix, not (preemptible or spot == "SPOT"))
    if (preemptible or spot == "SPOT") and (maintenance == "MIGRATE" or restart):
        raise invalid(
            prefix, "", "Preemptible and Spot VMs need onHostMaintenance TERMINATE and no automaticRestart."
        )
