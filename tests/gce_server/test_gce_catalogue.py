"""Zones, regions, machine types and public images."""

from __future__ import annotations

import pytest
from gce_cloud import PROJECT, REGION, ZONE
from google.api_core import exceptions
from google.cloud import compute_v1


def test_zones_and_regions(cloud):
    zone = cloud.zones.get(project=PROJECT, zone=ZONE)
    assert zone.status == "UP"
    assert zone.region.endswith(f"/projects/{PROJECT}/regions/{REGION}")
    region = cloud.regions.get(project=PROJECT, region=REGION)
    assert [z.rsplit("/", 1)[1] for z in region.zones] == [
        "us-central1-a",
        "us-central1-b",
        "us-central1-c",
        "us-central1-f",
    ]
    assert {q.metric for q in region.quotas} >= {"CPUS", "INSTANCES", "IN_USE_ADDRESSES"}
    listing = compute_v1.ListZonesRequest(project=PROJECT, filter=f"region eq .*/{REGION}")
    assert len(list(cloud.zones.list(request=listing))) == 4
    assert "europe-west1" in [r.name for r in cloud.regions.list(project=PROJECT)]
    with pytest.raises(exceptions.NotFound):
        cloud.regions.get(project=PROJECT, region="mars-north1")


@pytest.mark.parametrize(
    "name, cpus, memory_mb, shared",
    [("e2-micro", 2, 1024, True), ("e2-standard-4", 4, 16384, False), ("n1-standard-1", 1, 3840, False)],
)
def test_machine_types(cloud, name, cpus, memory_mb, shared):
    machine = cloud.machine_types.get(project=PROJECT, zone=ZONE, machine_type=name)
    assert (machine.guest_cpus, machine.memory_mb, machine.is_shared_cpu) == (cpus, memory_mb, shared)
    assert machine.zone == ZONE


def test_machine_type_list_and_unknown(cloud):
    names = [m.name for m in cloud.machine_types.list(project=PROJECT, zone=ZONE)]
    assert {"e2-small", "e2-medium", "e2-standard-2", "n1-standard-2", "n2-standard-2"} <= set(names)
    with pytest.raises(exceptions.NotFound):
        cloud.machine_types.get(project=PROJECT, zone=ZONE, machine_type="e2-huge")


def test_image_family_gives_the_newest_image_not_deprecated(cloud):
    image = cloud.images.get_from_family(project="debian-cloud", family="debian-12")
    assert image.name == "debian-12-bookworm-v20240110"
    assert image.self_link.endswith(f"/projects/debian-cloud/global/images/{image.name}")
    older = cloud.images.get(project="debian-cloud", image="debian-12-bookworm-v20231212")
    assert older.deprecated.state == "DEPRECATED"
    assert cloud.images.get_from_family(project="debian-cloud", family="debian-11").family == "debian-11"
    assert cloud.images.get_from_family(project="ubuntu-os-cloud", family="ubuntu-2204-lts").name.startswith(
        "ubuntu"
    )
    with pytest.raises(exceptions.NotFound):
        cloud.images.get_from_family(project="debian-cloud", family="debian-99")
    assert [i.family for i in cloud.images.list(project="ubuntu-os-cloud")] == ["ubuntu-2204-lts"]
