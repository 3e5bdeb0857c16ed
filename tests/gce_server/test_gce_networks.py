"""Networks through the real NetworksClient: lifecycle, synchronous refusals, and deletes that fail in use."""

from __future__ import annotations

import pytest
from gce_cloud import PROJECT, REGION, operation_error
from google.api_core import exceptions
from google.cloud import compute_v1


def test_network_exists_only_once_its_insert_is_done(cloud, gce):
    gce.step_seconds = 60
    operation = cloud.network()
    assert operation.status == compute_v1.Operation.Status.PENDING
    assert operation.operation_type == "insert"
    assert operation.target_link.endswith(f"/projects/{PROJECT}/global/networks/vpc")
    with pytest.raises(exceptions.NotFound):
        cloud.networks.get(project=PROJECT, network="vpc")

    cloud.succeed(operation)

    network = cloud.networks.get(project=PROJECT, network="vpc")
    assert network.auto_create_subnetworks is False
    assert network.routing_config.routing_mode == "REGIONAL"
    assert network.mtu == 1460
    assert str(network.id) == str(operation.target_id)
    assert (
        network.self_link == f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/global/networks/vpc"
    )
    assert [n.name for n in cloud.networks.list(project=PROJECT)] == ["vpc"]


def test_global_routing_mode_is_kept(cloud):
    resource = compute_v1.Network(
        name="vpc",
        auto_create_subnetworks=False,
        routing_config=compute_v1.NetworkRoutingConfig(routing_mode="GLOBAL"),
    )
    cloud.succeed(cloud.networks.insert_unary(project=PROJECT, network_resource=resource))
    assert cloud.networks.get(project=PROJECT, network="vpc").routing_config.routing_mode == "GLOBAL"


def test_delete_removes_the_network(cloud):
    cloud.succeed(cloud.network())
    operation = cloud.networks.delete_unary(project=PROJECT, network="vpc")
    assert operation.operation_type == "delete"
    cloud.succeed(operation)
    with pytest.raises(exceptions.NotFound):
        cloud.networks.get(project=PROJECT, network="vpc")
    with pytest.raises(exceptions.NotFound):
        cloud.networks.delete_unary(project=PROJECT, network="vpc")


def test_auto_mode_network_gets_a_subnetwork_per_region_and_takes_them_when_deleted(cloud):
    cloud.succeed(cloud.network(auto=True))
    subnetwork = cloud.subnetworks.get(project=PROJECT, region=REGION, subnetwork="vpc")
    assert subnetwork.ip_cidr_range == "10.128.0.0/20"
    network = cloud.networks.get(project=PROJECT, network="vpc")
    assert len(network.subnetworks) == 5
    cloud.succeed(cloud.networks.delete_unary(project=PROJECT, network="vpc"))
    with pytest.raises(exceptions.NotFound):
        cloud.subnetworks.get(project=PROJECT, region=REGION, subnetwork="vpc")


@pytest.mark.parametrize("name", ["Vpc", "1vpc", "vpc-", "v" * 64, "vpc_1"])
def test_bad_names_are_400_with_reason_invalid(cloud, name):
    with pytest.raises(exceptions.BadRequest) as raised:
        cloud.network(name=name)
    assert raised.value.errors[0]["reason"] == "invalid"
    assert "resource.name" in raised.value.message


def test_missing_name_is_400_required(cloud):
    with pytest.raises(exceptions.BadRequest) as raised:
        cloud.networks.insert_unary(
            project=PROJECT, network_resource=compute_v1.Network(auto_create_subnetworks=False)
        )
    assert raised.value.errors[0]["reason"] == "required"


def test_subnet_mode_must_be_chosen(cloud):
    with pytest.raises(exceptions.BadRequest, match="autoCreateSubnetworks"):
        cloud.networks.insert_unary(project=PROJECT, network_resource=compute_v1.Network(name="vpc"))


def test_second_insert_of_a_name_is_409_even_while_the_first_is_running(cloud, gce):
    gce.step_seconds = 60
    cloud.network()
    with pytest.raises(exceptions.Conflict) as raised:
        cloud.network()
    assert raised.value.errors[0]["reason"] == "alreadyExists"


def test_deleting_a_network_while_its_insert_runs_is_refused(cloud, gce):
    gce.step_seconds = 60
    cloud.network()
    with pytest.raises(exceptions.BadRequest) as raised:
        cloud.networks.delete_unary(project=PROJECT, network="vpc")
    assert raised.value.errors[0]["reason"] == "resourceNotReady"


@pytest.mark.parametrize("user", ["subnetwork", "firewall"])
def test_network_in_use_fails_its_delete_operation_and_stays(cloud, user):
    cloud.succeed(cloud.network())
    cloud.succeed(cloud.subnetwork() if user == "subnetwork" else cloud.firewall())
    operation = cloud.wait(cloud.networks.delete_unary(project=PROJECT, network="vpc"))
    assert operation_error(operation) == ("RESOURCE_IN_USE_BY_ANOTHER_RESOURCE", 400)
    assert operation.http_error_message == "BAD REQUEST"
    assert cloud.networks.get(project=PROJECT, network="vpc").name == "vpc"


def test_network_quota_fails_the_insert_operation(cloud, gce):
    gce.set_quota("NETWORKS", 1)
    cloud.succeed(cloud.network("one"))
    operation = cloud.wait(cloud.network("two"))
    assert operation_error(operation) == ("QUOTA_EXCEEDED", 403)
    assert "Quota 'NETWORKS' exceeded" in operation.error.errors[0].message
    assert [n.name for n in cloud.networks.list(project=PROJECT)] == ["one"]
