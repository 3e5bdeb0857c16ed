"""Instance templates: immutable, machine type named bare, references checked when the operation runs."""

from __future__ import annotations

import pytest
from gce_cloud import DEBIAN_12, PROJECT, REGION, ZONE, boot_disk, interface, operation_error
from google.api_core import exceptions
from google.cloud import compute_v1


def template(
    name: str = "node", machine_type: str = "e2-small", image: str = DEBIAN_12
) -> compute_v1.InstanceTemplate:
    return compute_v1.InstanceTemplate(
        name=name,
        properties=compute_v1.InstanceProperties(
            machine_type=machine_type,
            disks=[boot_disk(image, disk_size_gb=20)],
            network_interfaces=[interface(public=True)],
            tags=compute_v1.Tags(items=["web"]),
            metadata=compute_v1.Metadata(items=[compute_v1.Items(key="startup-script", value="echo hi")]),
            labels={"iacorch-stack": "shop"},
        ),
    )


def insert(cloud, resource: compute_v1.InstanceTemplate) -> compute_v1.Operation:
    return cloud.templates.insert_unary(project=PROJECT, instance_template_resource=resource)


def test_template_lifecycle(cloud):
    cloud.custom_network_with_subnetwork()
    cloud.succeed(insert(cloud, template()))
    stored = cloud.templates.get(project=PROJECT, instance_template="node")
    properties = stored.properties
    assert properties.machine_type == "e2-small"
    assert properties.disks[0].initialize_params.source_image == DEBIAN_12
    assert properties.disks[0].initialize_params.disk_size_gb == 20
    assert properties.network_interfaces[0].subnetwork == (
        f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/regions/{REGION}/subnetworks/app"
    )
    assert list(properties.tags.items) == ["web"]
    assert properties.metadata.items[0].value == "echo hi"
    assert dict(properties.labels) == {"iacorch-stack": "shop"}
    assert [t.name for t in cloud.templates.list(project=PROJECT)] == ["node"]

    cloud.succeed(cloud.templates.delete_unary(project=PROJECT, instance_template="node"))
    with pytest.raises(exceptions.NotFound):
        cloud.templates.get(project=PROJECT, instance_template="node")


def test_template_machine_type_must_be_bare(cloud):
    with pytest.raises(exceptions.BadRequest, match="machineType"):
        insert(cloud, template(machine_type=f"zones/{ZONE}/machineTypes/e2-small"))


def test_unknown_machine_type_fails_the_operation(cloud):
    cloud.custom_network_with_subnetwork()
    operation = cloud.wait(insert(cloud, template(machine_type="e2-huge")))
    assert operation_error(operation) == ("INVALID_FIELD_VALUE", 400)
    with pytest.raises(exceptions.NotFound):
        cloud.templates.get(project=PROJECT, instance_template="node")


def test_unknown_image_fails_the_operation(cloud):
    cloud.custom_network_with_subnetwork()
    operation = cloud.wait(
        insert(cloud, template(image="projects/debian-cloud/global/images/family/debian-99"))
    )
    assert operation_error(operation) == ("RESOURCE_NOT_FOUND", 404)
    assert "debian-99" in operation.error.errors[0].message


def test_missing_subnetwork_fails_the_operation(cloud):
    operation = cloud.wait(insert(cloud, template()))
    assert operation_error(operation) == ("RESOURCE_NOT_FOUND", 404)


def test_template_needs_a_boot_disk_and_an_interface(cloud):
    bare = template()
    del bare.properties.disks[:]
    with pytest.raises(exceptions.BadRequest, match="Boot disk"):
        insert(cloud, bare)
    bare = template()
    del bare.properties.network_interfaces[:]
    with pytest.raises(exceptions.BadRequest, match="networkInterfaces"):
        insert(cloud, bare)


def test_a_template_is_replaced_only_by_delete_and_insert(cloud):
    cloud.custom_network_with_subnetwork()
    cloud.succeed(insert(cloud, template()))
    with pytest.raises(exceptions.Conflict):
        insert(cloud, template(machine_type="e2-medium"))
    cloud.succeed(cloud.templates.delete_unary(project=PROJECT, instance_template="node"))
    cloud.succeed(insert(cloud, template(machine_type="e2-medium")))
    assert (
        cloud.templates.get(project=PROJECT, instance_template="node").properties.machine_type == "e2-medium"
    )
