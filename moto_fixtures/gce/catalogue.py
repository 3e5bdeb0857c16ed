"""What Google provides rather than the project creates: regions, zones, machine types, public images.

The data is a small, realistic subset of the real catalogue; every zone offers
every machine type listed here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .references import url

CATALOGUE_TIMESTAMP = "1969-12-31T16:00:00.000-08:00"

REGIONS: dict[str, tuple[str, ...]] = {
    "asia-east1": ("a", "b", "c"),
    "europe-west1": ("b", "c", "d"),
    "europe-west4": ("a", "b", "c"),
    "us-central1": ("a", "b", "c", "f"),
    "us-east1": ("b", "c", "d"),
}

ZONES: dict[str, str] = {
    f"{region}-{suffix}": region for region, suffixes in REGIONS.items() for suffix in suffixes
}


@dataclass(frozen=True)
class MachineType:
    name: str
    guest_cpus: int
    memory_mb: int
    shared_cpu: bool = False


MACHINE_TYPES: dict[str, MachineType] = {
    machine.name: machine
    for machine in (
        MachineType("e2-micro", 2, 1024, shared_cpu=True),
        MachineType("e2-small", 2, 2048, shared_cpu=True),
        MachineType("e2-medium", 2, 4096, shared_cpu=True),
        MachineType("e2-standard-2", 2, 8192),
        MachineType("e2-standard-4", 4, 16384),
        MachineType("e2-standard-8", 8, 32768),
        MachineType("n1-standard-1", 1, 3840),
        MachineType("n1-standard-2", 2, 7680),
        MachineType("n1-standard-4", 4, 15360),
        MachineType("n2-standard-2", 2, 8192),
        MachineType("n2-standard-4", 4, 16384),
        MachineType("n2-standard-8", 8, 32768),
    )
}


@dataclass(frozen=True)
class Image:
    project: str
    name: str
    family: str
    disk_size_gb: int
    deprecated: bool = False

    @property
    def path(self) -> str:
        return f"projects/{self.project}/global/images/{self.name}"


IMAGES: tuple[Image, ...] = (
    Image("debian-cloud", "debian-11-bullseye-v20240110", "debian-11", 10),
    Image("debian-cloud", "debian-12-bookworm-v20231212", "debian-12", 10, deprecated=True),
    Image("debian-cloud", "debian-12-bookworm-v20240110", "debian-12", 10),
    Image("ubuntu-os-cloud", "ubuntu-2204-jammy-v20240126", "ubuntu-2204-lts", 10),
)

IMAGE_PROJECTS = frozenset(image.project for image in IMAGES)


def stable_id(name: str) -> str:
    """A uint64 id as a decimal string that stays the same across runs."""
    return str(int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") >> 1)


def image_named(project: str, name: str) -> Image | None:
    return next((image for image in IMAGES if image.project == project and image.name == name), None)


def image_from_family(project: str, family: str) -> Image | None:
    """The newest image of a family that is not deprecated, as images.getFromFamily answers."""
    current = [
        image
        for image in IMAGES
        if image.project == project and image.family == family and not image.deprecated
    ]
    return max(current, key=lambda image: image.name, default=None)


def image_at(path: str) -> Image | None:
    """The image a ``projects/P/global/images/NAME`` or ``.../images/family/FAMILY`` path names."""
    parts = path.split("/")
    if parts[4:5] == ["family"]:
        return image_from_family(parts[1], parts[5])
    return image_named(parts[1], parts[4])


def zone_resource(project: str, zone: str) -> dict:
    return {
        "kind": "compute#zone",
        "id": stable_id(zone),
        "creationTimestamp": CATALOGUE_TIMESTAMP,
        "name": zone,
        "description": zone,
        "status": "UP",
        "region": url(f"projects/{project}/regions/{ZONES[zone]}"),
        "selfLink": url(f"projects/{project}/zones/{zone}"),
        "availableCpuPlatforms": ["Intel Broadwell", "Intel Cascade Lake", "AMD Milan"],
        "supportsPzs": False,
    }


def region_resource(project: str, region: str, quotas: list[dict]) -> dict:
    return {
        "kind": "compute#region",
        "id": stable_id(region),
        "creationTimestamp": CATALOGUE_TIMESTAMP,
        "name": region,
        "description": region,
        "status": "UP",
        "zones": [url(f"projects/{project}/zones/{region}-{suffix}") for suffix in REGIONS[region]],
        "quotas": quotas,
        "selfLink": url(f"projects/{project}/regions/{region}"),
        "supportsPzs": False,
    }


def machine_type_resource(project: str, zone: str, machine: MachineType) -> dict:
    return {
        "kind": "compute#machineType",
        "id": stable_id(machine.name),
        "creationTimestamp": CATALOGUE_TIMESTAMP,
        "name": machine.name,
        "description": f"{machine.guest_cpus} vCPUs, {machine.memory_mb / 1024:g} GB RAM",
        "guestCpus": machine.guest_cpus,
        "memoryMb": machine.memory_mb,
        "imageSpaceGb": 0,
        "maximumPersistentDisks": 128,
        "maximumPersistentDisksSizeGb": "263168",
        "zone": zone,
        "selfLink": url(f"projects/{project}/zones/{zone}/machineTypes/{machine.name}"),
        "isSharedCpu": machine.shared_cpu,
        "architecture": "X86_64",
    }


def image_resource(image: Image) -> dict:
    resource = {
        "kind": "compute#image",
        "id": stable_id(image.name),
        "creationTimestamp": CATALOGUE_TIMESTAMP,
        "name": image.name,
        "description": f"{image.family}, built {image.name.rsplit('-v', 1)[1]}",
        "sourceType": "RAW",
        "status": "READY",
        "archiveSizeBytes": "1000000000",
        "diskSizeGb": str(image.disk_size_gb),
        "licenses": [url(f"projects/{image.project}/global/licenses/{image.family}")],
        "family": image.family,
        "selfLink": url(image.path),
        "labelFingerprint": "42WmSpB8rSM=",
        "architecture": "X86_64",
    }
    if image.deprecated:
        resource["deprecated"] = {"state": "DEPRECATED"}
    return resource
