"""Compute Engine failures become one clear ProviderError each, naming the resource and saying what to do."""

from __future__ import annotations

import dataclasses
import socket

import pytest
from gcp_engine import PROJECT, REFERENCE, REGION, STACK_PATH, Cloud, converge, edited, engine_for, load
from google.cloud import compute_v1

from iacorch.errors import ProviderError, StackError
from moto_fixtures.gce import ApiError, OperationError

pytestmark = pytest.mark.usefixtures("gcp")


@pytest.fixture
def cloud(gcp) -> Cloud:
    return Cloud(gcp)


def failures(sf, *, destroy: bool = False) -> dict[str, str]:
    """Apply what the stack needs; return each failed step's error text by address."""
    engine = engine_for(sf)
    observed = engine.observe()
    result = engine.apply(engine.plan(observed, destroy=destroy), observed)
    assert result.outcome.failed, "expected a failure"
    return {step.change.address: error for step, error in result.outcome.failed}


def assert_clear(error: str, address: str, *phrases: str) -> None:
    assert error.startswith(f"{address}: "), error
    for phrase in phrases:
        assert phrase in error, error
    assert "\n  hint: " in error, error
    for leak in ("internal error", "google.", "Traceback", "http://"):
        assert leak not in error, error


def test_quota_exceeded_names_each_instance_and_says_to_raise_it(gcp):
    gcp.set_quota("CPUS", 4, region=REGION)  # two e2-small instances
    failed = failures(load())
    assert len(failed) == 2 and all(a.startswith("group.") for a in failed)
    for address, error in failed.items():
        assert_clear(error, address, "quota exceeded: Quota 'CPUS' exceeded.  Limit: 4.0 in region us-central1",
                     "raise the quota", "or lower the group sizes or use a smaller machine_type")


def test_a_name_taken_by_something_we_do_not_own_is_a_conflict(cloud):
    cloud.succeed(cloud.networks.insert_unary(project=PROJECT, network_resource=compute_v1.Network(
        name="gcp-web-net", auto_create_subnetworks=False)))
    engine = engine_for(load())
    observed = engine.observe()
    result = engine.apply(engine.plan(observed), observed)
    [(_, error)] = result.outcome.failed
    assert_clear(error, "network.main", "a resource with this name already exists",
                 "'projects/iacorch-demo/global/networks/gcp-web-net'", "not made by this stack")
    assert {s.change.address for s, _ in result.outcome.skipped} >= {"subnetwork.public-a", "group.app[0]"}


def test_a_create_finding_its_own_earlier_attempt_adopts_it(cloud):
    sf = load()
    engine = engine_for(sf)
    observed = engine.observe()
    plan = engine.plan(observed)
    cloud.succeed(cloud.networks.insert_unary(project=PROJECT, network_resource=compute_v1.Network(
        name="gcp-web-net", auto_create_subnetworks=False,
        description="iacorch stack=gcp-web address=network.main")))
    assert engine.apply(plan, observed).outcome.ok
    assert cloud.names(cloud.networks) == {"gcp-web-net"}


def test_something_deleted_behind_our_back_is_not_found(cloud):
    sf = load()
    converge(sf)
    grown = edited(("desired: 3", "desired: 4"))
    engine = engine_for(grown)
    observed = engine.observe()
    plan = engine.plan(observed)
    template = observed.resources["instance_template.node"].id.rsplit("/", 1)[1]
    cloud.succeed(cloud.templates.delete_unary(project=PROJECT, instance_template=template))
    [(_, error)] = engine.apply(plan, observed).outcome.failed
    assert_clear(error, "group.app[3]", f"not found: The resource 'projects/iacorch-demo/global/instanceTemplates/"
                                        f"{template}' was not found", "deleted outside iacorch; run plan again")


def test_a_machine_type_that_does_not_exist(gcp):
    failed = failures(edited(("app_type: e2-small", "app_type: e2-huge")))
    assert list(failed) == ["instance_template.node"]
    assert_clear(failed["instance_template.node"], "instance_template.node",
                 "the machine type does not exist", "Machine type 'e2-huge' does not exist",
                 "check launch_templates.node.machine_type")


def test_an_image_that_does_not_exist(gcp):
    failed = failures(edited(("family/debian-12", "family/debian-99")))
    assert list(failed) == ["instance_template.node"]
    assert_clear(failed["instance_template.node"], "instance_template.node", "the image does not exist",
                 "'projects/debian-cloud/global/images/family/debian-99'", "check launch_templates.node.image")


def test_deleting_what_something_else_still_uses(cloud):
    sf = load()
    converge(sf)
    cloud.succeed(cloud.instances.insert_unary(project=PROJECT, zone="us-central1-b", instance_resource=compute_v1.Instance(
        name="squatter", machine_type="zones/us-central1-b/machineTypes/e2-small",
        disks=[compute_v1.AttachedDisk(boot=True, initialize_params=compute_v1.AttachedDiskInitializeParams(
            source_image="projects/debian-cloud/global/images/family/debian-12"))],
        network_interfaces=[compute_v1.NetworkInterface(
            subnetwork=f"regions/{REGION}/subnetworks/gcp-web-public-b")])))
    failed = failures(sf, destroy=True)
    assert list(failed) == ["subnetwork.public-b"]
    assert_clear(failed["subnetwork.public-b"], "subnetwork.public-b", "it is still in use",
                 "instances/squatter", "something outside this stack still uses it")


def test_a_zone_out_of_capacity(gcp):
    gcp.fail_next("compute.instances.insert", OperationError(
        "ZONE_RESOURCE_POOL_EXHAUSTED", "The zone does not have enough resources available.", 503))
    [(address, error)] = failures(load()).items()
    assert_clear(error, address, "the zone is out of capacity", "another zone or machine type")


def test_observation_errors_name_the_project(gcp):
    gcp.fail_next("compute.networks.list", ApiError(404, "notFound", "The resource 'projects/iacorch-demo' was not found"))
    with pytest.raises(ProviderError) as err:
        engine_for(load()).observe()
    assert str(err.value).startswith("gcp project iacorch-demo: the project does not exist or is not visible")
    assert "check provider.gcp.project" in str(err.value)


def test_an_operation_that_never_finishes_times_out(gcp, monkeypatch):
    monkeypatch.setattr("providers.gcp.operations.TIMEOUT", 0.5)
    gcp.stall_next("compute.networks.insert", polls=1000)
    failed = failures(load())
    assert list(failed) == ["network.main"]
    assert_clear(failed["network.main"], "network.main", "timed out after 0s waiting for insert", "run plan")


def test_an_unreachable_endpoint(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("IACORCH_GCP_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(ProviderError) as err:
        engine_for(load()).observe()
    assert f"cannot reach the Compute Engine API at http://127.0.0.1:{port}" in str(err.value)


@pytest.mark.parametrize("new, field, zone", [
    ("zones: [us-central1-a, us-east1-b]", "provider.gcp.zones[1]", "us-east1-b"),
    ("zone: europe-west1-b", "provider.gcp.zone", "europe-west1-b"),
])
def test_a_zone_outside_the_region_is_refused_at_its_line_before_any_request(gcp, new, field, zone):
    text = REFERENCE.replace("zones: [us-central1-a, us-central1-b]", new)
    with pytest.raises(StackError) as err:
        load(text)
    assert err.value.message == f"{field}: zone {zone} is not in region {REGION}", err.value
    line = next(n for n, row in enumerate(text.splitlines(), 1) if new in row)
    assert err.value.where.startswith(f"{STACK_PATH}:{line}:"), err.value.where
    assert err.value.hint.startswith(f"use zones of {REGION}")
    assert not gcp.requests


def test_the_api_refusing_a_zone_outside_the_region_is_still_explained(gcp):
    """Should a stack reach the API unchecked, the API's own refusal names the instance and what to do."""
    sf = load()
    settings = sf.stack.provider.gcp.model_copy(update={"zones": ["us-central1-a", "us-east1-b"]})
    stack = sf.stack.model_copy(update={"provider": sf.stack.provider.model_copy(update={"gcp": settings})})
    failed = failures(dataclasses.replace(sf, stack=stack))
    assert sorted(failed) == ["group.app[1]"]
    assert_clear(failed["group.app[1]"], "group.app[1]", "the zone is not in the stack's region",
                 "check provider.gcp.zones")


def test_the_stack_endpoint_wins_over_the_environment_and_must_be_a_url(gcp):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    project = "    project: \"{{ project }}\"\n"
    with pytest.raises(ProviderError, match=f"cannot reach the Compute Engine API at http://127.0.0.1:{port}"):
        engine_for(edited((project, f"{project}    endpoint: http://127.0.0.1:{port}\n"))).observe()
    with pytest.raises(ProviderError, match="has no http:// or https://") as err:
        engine_for(edited((project, f"{project}    endpoint: 127.0.0.1:{port}\n")))
    assert "e.g. http://127.0.0.1:8085" in str(err.value)
