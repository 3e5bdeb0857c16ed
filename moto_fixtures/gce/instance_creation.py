"""What an instance insert does when its operation runs: resolve what it names, check quota, allocate, build.

The request was already checked by `instance_properties`. Here the machine
type, images, networks and subnetworks must exist (RESOURCE_NOT_FOUND
otherwise), a custom mode network needs a subnetwork, the region's quotas must
hold, and addresses are allocated. The result is the instance resource, or the
`OperationError` the operation reports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import quotas
from .addresses import external_ip, internal_ip
from .catalogue import MACHINE_TYPES, ZONES, Image, image_at
from .clock import timestamp
from .errors import OperationError, resource_not_found
from .fingerprints import fingerprint
from .references import name_of, path_from_url, path_of, url

if TYPE_CHECKING:
    from .world import World


def invalid_field(field_name: str, why: str) -> OperationError:
    return OperationError("INVALID_FIELD_VALUE", f"Invalid value for field '{field_name}'. {why}", 400)


def resolve_images(disks: list[dict], project: str) -> list[Image] | OperationError:
    images = []
    for disk in disks:
        path = path_of(disk["initializeParams"]["sourceImage"], project)
        image = image_at(path)
        if image is None:
            return resource_not_found(path)
        images.append(image)
    return images


def resolve_interface(
    world: World, project: str, region: str | None, interface: dict, field_name: str
) -> tuple[dict, dict | None] | OperationError:
    """The network and subnetwork an interface lands on; with no region (a template), only check they exist."""
    network_path = path_of(interface.get("network", "global/networks/default"), project)
    subnetwork = None
    if "subnetwork" in interface:
        subnetwork_path = path_of(interface["subnetwork"], project)
        subnetwork = world.find(subnetwork_path)
        if subnetwork is None:
            return resource_not_found(subnetwork_path)
        if "network" in interface and path_from_url(subnetwork["network"]) != network_path:
            return invalid_field(f"{field_name}.subnetwork", "The subnetwork is not in the given network.")
        network_path = path_from_url(subnetwork["network"])
    network = world.find(network_path)
    if network is None:
        return resource_not_found(network_path)
    if subnetwork is None and region is not None:
        if not network["autoCreateSubnetworks"]:
            return invalid_field(field_name, "Subnetwork should be specified for custom subnetmode network.")
        subnetwork = world.find(f"projects/{project}/regions/{region}/subnetworks/{network['name']}")
    return network, subnetwork


def _attached_disks(
    project: str, zone: str, name: str, disks: list[dict], images: list[Image]
) -> list[dict] | OperationError:
    attached = []
    for index, (disk, image) in enumerate(zip(disks, images)):
        params = disk["initializeParams"]
        size = int(params.get("diskSizeGb", image.disk_size_gb))
        if size < image.disk_size_gb:
            return invalid_field(
                f"resource.disks[{index}].initializeParams.diskSizeGb",
                f"Requested disk size cannot be smaller than the image size ({image.disk_size_gb} GB).",
            )
        disk_name = params.get("diskName", name if index == 0 else f"{name}-{index}")
        attached.append(
            {
                "kind": "compute#attachedDisk",
                "type": "PERSISTENT",
                "mode": "READ_WRITE",
                "source": url(f"projects/{project}/zones/{zone}/disks/{disk_name}"),
                "deviceName": disk.get("deviceName", f"persistent-disk-{index}"),
                "index": index,
                "boot": index == 0,
                "autoDelete": disk.get("autoDelete", False),
                "interface": "SCSI",
                "diskSizeGb": str(size),
                "licenses": [url(f"projects/{image.project}/global/licenses/{image.family}")],
                "architecture": "X86_64",
            }
        )
    return attached


def _interfaces(world: World, project: str, zone: str, requested: list[dict]) -> list[dict] | OperationError:
    interfaces: list[dict] = []
    nat_ips: set[str] = set()
    for index, interface in enumerate(requested):
        resolved = resolve_interface(
            world, project, ZONES[zone], interface, f"resource.networkInterfaces[{index}]"
        )
        if isinstance(resolved, OperationError):
            return resolved
        network, subnetwork = resolved
        if any(other["network"] == network["selfLink"] for other in interfaces):
            return invalid_field(
                "resource.networkInterfaces", "Each interface must be on a different network."
            )
        address = internal_ip(world, project, subnetwork, interface.get("networkIP"))
        if isinstance(address, OperationError):
            return address
        built = {
            "kind": "compute#networkInterface",
            "name": f"nic{index}",
            "network": network["selfLink"],
            "subnetwork": subnetwork["selfLink"],
            "networkIP": address,
            "stackType": "IPV4_ONLY",
        }
        for access in interface.get("accessConfigs", []):
            nat_ip = external_ip(world, nat_ips)
            if isinstance(nat_ip, OperationError):
                return nat_ip
            nat_ips.add(nat_ip)
            built["accessConfigs"] = [
                {
                    "kind": "compute#accessConfig",
                    "type": "ONE_TO_ONE_NAT",
                    "name": access.get("name", "External NAT"),
                    "natIP": nat_ip,
                    "networkTier": access.get("networkTier", "PREMIUM"),
                }
            ]
        built["fingerprint"] = fingerprint(built)
        interfaces.append(built)
    return interfaces


def build_instance(
    world: World, project: str, zone: str, name: str, instance_id: str, request: dict
) -> dict | OperationError:
    machine_name = name_of(request["machineType"])
    machine = MACHINE_TYPES.get(machine_name)
    if machine is None:
        return resource_not_found(f"projects/{project}/zones/{zone}/machineTypes/{machine_name}")
    images = resolve_images(request["disks"], project)
    if isinstance(images, OperationError):
        return images
    disks = _attached_disks(project, zone, name, request["disks"], images)
    if isinstance(disks, OperationError):
        return disks
    demand = {
        "CPUS": machine.guest_cpus,
        "INSTANCES": 1,
        "IN_USE_ADDRESSES": sum(len(nic.get("accessConfigs", [])) for nic in request["networkInterfaces"]),
        "DISKS_TOTAL_GB": sum(int(disk["diskSizeGb"]) for disk in disks),
    }
    error = quotas.exceeded(world, project, demand, ZONES[zone])
    if error is not None:
        return error
    interfaces = _interfaces(world, project, zone, request["networkInterfaces"])
    if isinstance(interfaces, OperationError):
        return interfaces
    scheduling = request.get("scheduling", {})
    preemptible = scheduling.get("preemptible", False) or scheduling.get("provisioningModel") == "SPOT"
    labels = request.get("labels", {})
    tag_items = request.get("tags", {}).get("items", [])
    metadata_items = request.get("metadata", {}).get("items", [])
    instance = {
        "kind": "compute#instance",
        "id": instance_id,
        "creationTimestamp": timestamp(),
        "name": name,
        "tags": {**({"items": tag_items} if tag_items else {}), "fingerprint": fingerprint(tag_items)},
        "machineType": url(f"projects/{project}/zones/{zone}/machineTypes/{machine_name}"),
        "status": "PROVISIONING",
        "zone": url(f"projects/{project}/zones/{zone}"),
        "canIpForward": request.get("canIpForward", False),
        "networkInterfaces": interfaces,
        "disks": disks,
        "metadata": {
            "kind": "compute#metadata",
            "fingerprint": fingerprint(metadata_items),
            **({"items": metadata_items} if metadata_items else {}),
        },
        "selfLink": url(f"projects/{project}/zones/{zone}/instances/{name}"),
        "scheduling": {
            "onHostMaintenance": scheduling.get(
                "onHostMaintenance", "TERMINATE" if preemptible else "MIGRATE"
            ),
            "automaticRestart": scheduling.get("automaticRestart", not preemptible),
            "preemptible": scheduling.get("preemptible", False),
            "provisioningModel": scheduling.get("provisioningModel", "STANDARD"),
        },
        "cpuPlatform": "Intel Broadwell",
        "labelFingerprint": fingerprint(labels),
        "startRestricted": False,
        "deletionProtection": False,
        "fingerprint": fingerprint([instance_id, timestamp()]),
        "lastStartTimestamp": timestamp(),
    }
    for key in ("description", "serviceAccounts"):
        if key in request:
            instance[key] = request[key]
    if labels:
        instance["labels"] = labels
    return instance
