"""Subnetworks: ranges checked at once, overlaps and missing networks failing the operation, fingerprinted patch."""

from __future__ import annotations

import pytest
from gce_cloud import PROJECT, REGION, ZONE, operation_error
from google.api_core import exceptions
from google.cloud import compute_v1


def test_subnetwork_lifecycle(cloud):
    cloud.custom_network_with_subnetwork()
    subnetwork = cloud.subnetworks.get(project=PROJECT, region=REGION, subnetwork="app")
    assert subnetwork.ip_cidr_range == "10.0.1.0/24"
    assert subnetwork.gateway_address == "10.0.1.1"
    assert subnetwork.network.endswith("/global/networks/vpc")
    assert subnetwork.region.endswith(f"/regions/{REGION}")
    assert cloud.networks.get(project=PROJECT, network="vpc").subnetworks == [subnetwork.self_link]
    assert [s.name for s in cloud.subnetworks.list(project=PROJECT, region=REGION)] == ["app"]
    assert list(cloud.subnetworks.list(project=PROJECT, region="europe-west1")) == []

    cloud.succeed(cloud.subnetworks.delete_unary(project=PROJECT, region=REGION, subnetwork="app"))
    with pytest.raises(exceptions.NotFound):
        cloud.subnetworks.get(project=PROJECT, region=REGION, subnetwork="app")
    assert not cloud.networks.get(project=PROJECT, network="vpc").subnetworks


@pytest.mark.parametrize(
    "cidr", ["10.0.1.5/24", "10.0.1.0/30", "10.0.0.0/7", "10.0.1.0", "banana", "2001:db8::/64"]
)
def test_bad_ranges_are_400(cloud, cidr):
    cloud.succeed(cloud.network())
    with pytest.raises(exceptions.BadRequest, match="ipCidrRange"):
        cloud.subnetwork(cidr=cidr)


def test_network_must_be_a_network_reference(cloud):
    resource = compute_v1.Subnetwork(name="app", network="vpc", ip_cidr_range="10.0.1.0/24")
    with pytest.raises(exceptions.BadRequest, match="resource.network"):
        cloud.subnetworks.insert_unary(project=PROJECT, region=REGION, subnetwork_resource=resource)


def test_overlapping_range_in_the_same_network_fails_the_operation(cloud):
    cloud.custom_network_with_subnetwork()
    operation = cloud.wait(cloud.subnetwork(name="other", cidr="10.0.0.0/16", region="us-east1"))
    assert operation_error(operation) == ("INVALID_USAGE", 400)
    assert "conflicts with existing subnetwork 'app'" in operation.error.errors[0].message


def test_same_range_in_another_network_is_fine(cloud):
    cloud.custom_network_with_subnetwork()
    cloud.succeed(cloud.network("other-vpc"))
    cloud.succeed(cloud.subnetwork(name="app", cidr="10.0.1.0/24", network="other-vpc", region="us-east1"))


def test_missing_network_fails_the_operation(cloud):
    operation = cloud.wait(cloud.subnetwork(network="nowhere"))
    assert operation_error(operation) == ("RESOURCE_NOT_FOUND", 404)


def test_subnetwork_inserted_before_its_network_is_done_fails(cloud, gce):
    gce.step_seconds = 60
    network_operation = cloud.network()
    operation = cloud.wait(cloud.subnetwork())
    assert operation_error(operation)[0] == "RESOURCE_NOT_FOUND"
    cloud.succeed(network_operation)


def test_patch_needs_the_current_fingerprint(cloud):
    cloud.custom_network_with_subnetwork()
    current = cloud.subnetworks.get(project=PROJECT, region=REGION, subnetwork="app")
    change = compute_v1.Subnetwork(fingerprint=current.fingerprint, private_ip_google_access=True)
    cloud.succeed(
        cloud.subnetworks.patch_unary(
            project=PROJECT, region=REGION, subnetwork="app", subnetwork_resource=change
        )
    )
    patched = cloud.subnetworks.get(project=PROJECT, region=REGION, subnetwork="app")
    assert patched.private_ip_google_access is True
    assert patched.fingerprint != current.fingerprint

    with pytest.raises(exceptions.PreconditionFailed):
        cloud.subnetworks.patch_unary(
            project=PROJECT, region=REGION, subnetwork="app", subnetwork_resource=change
        )
    with pytest.raises(exceptions.BadRequest, match="fingerprint"):
        cloud.subnetworks.patch_unary(
            project=PROJECT,
            region=REGION,
            subnetwork="app",
            subnetwork_resource=compute_v1.Subnetwork(description="x"),
        )


def test_patch_cannot_change_the_range(cloud):
    cloud.custom_network_with_subnetwork()
    current = cloud.subnetworks.get(project=PROJECT, region=REGION, subnetwork="app")
    change = compute_v1.Subnetwork(fingerprint=current.fingerprint, ip_cidr_range="10.0.2.0/24")
    with pytest.raises(exceptions.BadRequest, match="ipCidrRange"):
        cloud.subnetworks.patch_unary(
            project=PROJECT, region=REGION, subnetwork="app", subnetwork_resource=change
        )


def test_subnetwork_used_by_an_instance_cannot_be_deleted(cloud):
    cloud.custom_network_with_subnetwork()
    cloud.succeed(cloud.instance())
    operation = cloud.wait(cloud.subnetworks.delete_unary(project=PROJECT, region=REGION, subnetwork="app"))
    assert operation_error(operation) == ("RESOURCE_IN_USE_BY_ANOTHER_RESOURCE", 400)
    assert f"zones/{ZONE}/instances/vm-1" in operation.error.errors[0].message


def test_auto_mode_subnetwork_cannot_be_deleted_alone(cloud):
    cloud.succeed(cloud.network(auto=True))
    operation = cloud.wait(cloud.subnetworks.delete_unary(project=PROJECT, region=REGION, subnetwork="vpc"))
    assert operation_error(operation) == ("INVALID_USAGE", 400)


def test_aggregated_list_groups_subnetworks_by_region(cloud):
    cloud.custom_network_with_subnetwork()
    cloud.succeed(cloud.subnetwork(name="east", cidr="10.0.2.0/24", region="us-east1"))
    request = compute_v1.AggregatedListSubnetworksRequest(project=PROJECT)
    found = {
        scope: [s.name for s in scoped.subnetworks]
        for scope, scoped in cloud.subnetworks.aggregated_list(request=request)
        if scoped.subnetworks
    }
    assert found == {f"regions/{REGION}": ["app"], "regions/us-east1": ["east"]}
