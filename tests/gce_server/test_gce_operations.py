"""Operations: polling, waiting, scopes, requestId replays, faults tests inject, request counts."""

from __future__ import annotations

import time
import uuid

import pytest
from gce_cloud import PROJECT, REGION, ZONE, operation_error
from google.api_core import exceptions
from google.cloud import compute_v1

from moto_fixtures.gce import ApiError, OperationError

Status = compute_v1.Operation.Status


def test_each_get_moves_an_operation_one_step_and_the_effect_lands_at_done(cloud, gce):
    gce.step_seconds = 60
    operation = cloud.network()
    assert operation.progress == 0
    seen = [cloud.global_operations.get(project=PROJECT, operation=operation.name) for _ in range(3)]
    assert [o.status for o in seen] == [Status.RUNNING, Status.DONE, Status.DONE]
    assert seen[0].start_time and not seen[0].end_time
    assert seen[1].progress == 100 and seen[1].end_time
    assert cloud.networks.get(project=PROJECT, network="vpc").name == "vpc"


def test_operations_finish_by_themselves_with_time(cloud, gce):
    gce.step_seconds = 0.02
    cloud.network()
    time.sleep(0.05)
    assert [n.name for n in cloud.networks.list(project=PROJECT)] == ["vpc"]


def test_operations_are_found_only_in_their_own_scope(cloud):
    cloud.custom_network_with_subnetwork()
    operation = cloud.instance()
    assert (
        cloud.zone_operations.get(project=PROJECT, zone=ZONE, operation=operation.name).name == operation.name
    )
    with pytest.raises(exceptions.NotFound):
        cloud.global_operations.get(project=PROJECT, operation=operation.name)
    with pytest.raises(exceptions.NotFound):
        cloud.zone_operations.get(project=PROJECT, zone="us-central1-b", operation=operation.name)
    with pytest.raises(exceptions.NotFound):
        cloud.region_operations.get(project=PROJECT, region=REGION, operation=operation.name)


def test_list_and_delete_operations(cloud):
    cloud.custom_network_with_subnetwork()
    listed = list(cloud.region_operations.list(project=PROJECT, region=REGION))
    assert [(o.operation_type, o.status) for o in listed] == [("insert", Status.DONE)]
    listing = compute_v1.ListGlobalOperationsRequest(project=PROJECT, filter="operationType = insert")
    (network_insert,) = cloud.global_operations.list(request=listing)
    cloud.global_operations.delete(project=PROJECT, operation=network_insert.name)
    with pytest.raises(exceptions.NotFound):
        cloud.global_operations.get(project=PROJECT, operation=network_insert.name)


def test_a_stalled_operation_keeps_running_and_wait_returns_after_its_bound(cloud, gce):
    gce.step_seconds = 0
    gce.wait_timeout_seconds = 0.05
    gce.stall_next("compute.networks.insert", polls=3)
    operation = cloud.network()
    started = time.monotonic()
    assert cloud.global_operations.wait(project=PROJECT, operation=operation.name).status == Status.RUNNING
    assert time.monotonic() - started >= 0.05
    assert cloud.global_operations.get(project=PROJECT, operation=operation.name).status == Status.RUNNING
    with pytest.raises(exceptions.NotFound):
        cloud.networks.get(project=PROJECT, network="vpc")
    assert cloud.global_operations.get(project=PROJECT, operation=operation.name).status == Status.RUNNING
    assert cloud.global_operations.wait(project=PROJECT, operation=operation.name).status == Status.DONE
    assert cloud.networks.get(project=PROJECT, network="vpc").name == "vpc"


def test_same_request_id_replays_the_same_operation(cloud):
    request_id = str(uuid.uuid4())
    request = compute_v1.InsertNetworkRequest(
        project=PROJECT,
        request_id=request_id,
        network_resource=compute_v1.Network(name="vpc", auto_create_subnetworks=False),
    )
    first = cloud.networks.insert_unary(request=request)
    cloud.succeed(first)
    again = cloud.networks.insert_unary(request=request)
    assert again.name == first.name
    assert again.status == Status.DONE
    request.request_id = "not-a-uuid"
    with pytest.raises(exceptions.BadRequest, match="requestId"):
        cloud.networks.insert_unary(request=request)


def test_injected_http_failure_on_a_get_is_retried_by_the_client(cloud, gce):
    cloud.succeed(cloud.network())
    gce.fail_next("compute.networks.get", ApiError(503, "backendError", "try again"), times=2)
    assert cloud.networks.get(project=PROJECT, network="vpc").name == "vpc"
    assert gce.requests["compute.networks.get"] == 3


def test_injected_http_failure_on_a_mutation_surfaces(cloud, gce):
    gce.fail_next("compute.networks.insert", ApiError(403, "rateLimitExceeded", "Rate Limit Exceeded"))
    with pytest.raises(exceptions.Forbidden, match="Rate Limit Exceeded"):
        cloud.network()
    cloud.succeed(cloud.network())


def test_injected_operation_failure_has_no_effect(cloud, gce):
    cloud.custom_network_with_subnetwork()
    gce.fail_next(
        "compute.instances.insert",
        OperationError(
            "ZONE_RESOURCE_POOL_EXHAUSTED", "The zone does not have enough resources available.", 503
        ),
    )
    operation = cloud.wait(cloud.instance())
    assert operation_error(operation) == ("ZONE_RESOURCE_POOL_EXHAUSTED", 503)
    assert operation.http_error_message == "SERVICE UNAVAILABLE"
    with pytest.raises(exceptions.NotFound):
        cloud.instances.get(project=PROJECT, zone=ZONE, instance="vm-1")
    cloud.succeed(cloud.instance())


def test_injected_stop_failure_leaves_the_instance_running(cloud, gce):
    cloud.custom_network_with_subnetwork()
    cloud.succeed(cloud.instance())
    cloud.running()
    gce.fail_next("compute.instances.stop", OperationError("INTERNAL_ERROR", "boom", 500))
    operation = cloud.wait(cloud.instances.stop_unary(project=PROJECT, zone=ZONE, instance="vm-1"))
    assert operation_error(operation) == ("INTERNAL_ERROR", 500)
    assert cloud.instances.get(project=PROJECT, zone=ZONE, instance="vm-1").status == "RUNNING"


def test_faults_name_real_methods(gce):
    with pytest.raises(ValueError, match="compute.instances.insert"):
        gce.fail_next("instances.insert", ApiError(500, "backendError", "x"))
    with pytest.raises(ValueError):
        gce.fail_next("compute.networks.get", OperationError("X", "operations only come from mutations", 400))
    with pytest.raises(ValueError):
        gce.stall_next("compute.zones.list", polls=1)


def test_requests_are_counted_per_method(cloud, gce):
    cloud.custom_network_with_subnetwork()
    assert gce.requests == {
        "compute.networks.insert": 1,
        "compute.globalOperations.wait": 1,
        "compute.subnetworks.insert": 1,
        "compute.regionOperations.wait": 1,
    }
    gce.reset()
    assert gce.requests == {}
