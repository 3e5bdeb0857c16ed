"""Instances: boot states, addresses, templates, power, fingerprints, async failures, aggregatedList."""

from __future__ import annotations

import ipaddress

import pytest
from gce_cloud import PROJECT, REGION, ZONE, boot_disk, interface, operation_error
from google.api_core import exceptions
from google.cloud import compute_v1


def get(cloud, name: str = "vm-1") -> compute_v1.Instance:
    return cloud.instances.get(project=PROJECT, zone=ZONE, instance=name)


def test_instance_boots_through_provisioning_and_staging(cloud, gce):
    gce.step_seconds = 60
    cloud.custom_network_with_subnetwork()
    operation = cloud.instance(labels={"iacorch-stack": "shop"}, network_interfaces=[interface(public=True)])
    assert operation.zone.endswith(f"/zones/{ZONE}")
    with pytest.raises(exceptions.NotFound):
        get(cloud)
    cloud.succeed(operation)

    assert [get(cloud).status for _ in range(4)] == ["PROVISIONING", "STAGING", "RUNNING", "RUNNING"]
    instance = get(cloud)
    assert instance.machine_type == (
        f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/zones/{ZONE}/machineTypes/e2-small"
    )
    assert instance.zone.endswith(f"/projects/{PROJECT}/zones/{ZONE}")
    assert instance.id == operation.target_id
    assert dict(instance.labels) == {"iacorch-stack": "shop"}
    assert instance.label_fingerprint
    assert instance.disks[0].boot and instance.disks[0].disk_size_gb == 10
    nic = instance.network_interfaces[0]
    assert nic.network_i_p == "10.0.1.2"
    assert nic.subnetwork.endswith(f"/regions/{REGION}/subnetworks/app")
    assert nic.network.endswith("/global/networks/vpc")
    assert ipaddress.ip_address(nic.access_configs[0].nat_i_p) in ipaddress.ip_network("203.0.113.0/24")


def test_instance_status_also_moves_with_time(cloud, gce):
    gce.step_seconds = 0.01
    cloud.custom_network_with_subnetwork()
    cloud.succeed(cloud.instance())
    listed = []
    for _ in range(100):
        listed = [i.status for i in cloud.instances.list(project=PROJECT, zone=ZONE)]
        if listed == ["RUNNING"]:
            break
    assert listed == ["RUNNING"]


def test_addresses_are_allocated_in_order_and_stay_unique(cloud):
    cloud.custom_network_with_subnetwork()
    for index in range(3):
        cloud.succeed(cloud.instance(f"vm-{index}", network_interfaces=[interface(public=True)]))
    nics = [get(cloud, f"vm-{index}").network_interfaces[0] for index in range(3)]
    assert [nic.network_i_p for nic in nics] == ["10.0.1.2", "10.0.1.3", "10.0.1.4"]
    assert len({nic.access_configs[0].nat_i_p for nic in nics}) == 3


def test_a_requested_internal_ip_is_given_or_refused(cloud):
    cloud.custom_network_with_subnetwork()
    fixed = compute_v1.NetworkInterface(
        subnetwork=f"regions/{REGION}/subnetworks/app", network_i_p="10.0.1.50"
    )
    cloud.succeed(cloud.instance(network_interfaces=[fixed]))
    assert get(cloud).network_interfaces[0].network_i_p == "10.0.1.50"
    operation = cloud.wait(cloud.instance("vm-2", network_interfaces=[fixed]))
    assert operation_error(operation) == ("INVALID_USAGE", 400)


def test_a_full_subnetwork_fails_the_insert(cloud):
    cloud.succeed(cloud.network())
    cloud.succeed(cloud.subnetwork(cidr="10.0.1.0/29"))  # 8 addresses, 4 reserved
    for index in range(4):
        cloud.succeed(cloud.instance(f"vm-{index}"))
    assert operation_error(cloud.wait(cloud.instance("vm-4")))[0] == "IP_SPACE_EXHAUSTED"


def test_insert_from_template_with_overrides(cloud):
    cloud.custom_network_with_subnetwork()
    properties = compute_v1.InstanceProperties(
        machine_type="e2-medium",
        disks=[boot_disk()],
        network_interfaces=[interface()],
        labels={"role": "app"},
        tags=compute_v1.Tags(items=["app"]),
    )
    resource = compute_v1.InstanceTemplate(name="node", properties=properties)
    cloud.succeed(cloud.templates.insert_unary(project=PROJECT, instance_template_resource=resource))
    request = compute_v1.InsertInstanceRequest(
        project=PROJECT,
        zone=ZONE,
        source_instance_template="global/instanceTemplates/node",
        instance_resource=compute_v1.Instance(name="vm-1", labels={"role": "web"}),
    )
    cloud.succeed(cloud.instances.insert_unary(request=request))
    instance = get(cloud)
    assert instance.machine_type.endswith(f"/zones/{ZONE}/machineTypes/e2-medium")
    assert dict(instance.labels) == {"role": "web"}
    assert list(instance.tags.items) == ["app"]


def test_insert_from_a_missing_template_is_404(cloud):
    request = compute_v1.InsertInstanceRequest(
        project=PROJECT,
        zone=ZONE,
        source_instance_template="global/instanceTemplates/nothing",
        instance_resource=compute_v1.Instance(name="vm-1"),
    )
    with pytest.raises(exceptions.NotFound):
        cloud.instances.insert_unary(request=request)


def test_stop_releases_the_external_ip_and_start_gives_a_new_one(cloud, gce):
    gce.step_seconds = 60
    cloud.custom_network_with_subnetwork()
    cloud.succeed(cloud.instance(network_interfaces=[interface(public=True)]))
    first_ip = cloud.running().network_interfaces[0].access_configs[0].nat_i_p

    stop = cloud.instances.stop_unary(project=PROJECT, zone=ZONE, instance="vm-1")
    assert get(cloud).status == "STOPPING"
    with pytest.raises(exceptions.BadRequest, match="not ready"):
        cloud.instances.start_unary(project=PROJECT, zone=ZONE, instance="vm-1")
    cloud.succeed(stop)
    stopped = get(cloud)
    assert stopped.status == "TERMINATED"
    assert not stopped.network_interfaces[0].access_configs[0].nat_i_p
    assert stopped.network_interfaces[0].network_i_p == "10.0.1.2"

    cloud.succeed(cloud.instances.start_unary(project=PROJECT, zone=ZONE, instance="vm-1"))
    started = cloud.running()
    assert started.network_interfaces[0].access_configs[0].nat_i_p not in ("", first_ip)


def test_delete_stops_then_removes(cloud, gce):
    gce.step_seconds = 60
    cloud.custom_network_with_subnetwork()
    cloud.succeed(cloud.instance())
    operation = cloud.instances.delete_unary(project=PROJECT, zone=ZONE, instance="vm-1")
    assert get(cloud).status == "STOPPING"
    cloud.succeed(operation)
    with pytest.raises(exceptions.NotFound):
        get(cloud)


def test_set_labels_needs_the_current_fingerprint(cloud):
    cloud.custom_network_with_subnetwork()
    cloud.succeed(cloud.instance(labels={"a": "1"}))
    fingerprint = get(cloud).label_fingerprint
    change = compute_v1.InstancesSetLabelsRequest(labels={"a": "2", "b": "x"}, label_fingerprint=fingerprint)
    cloud.succeed(
        cloud.instances.set_labels_unary(
            project=PROJECT, zone=ZONE, instance="vm-1", instances_set_labels_request_resource=change
        )
    )
    labelled = get(cloud)
    assert dict(labelled.labels) == {"a": "2", "b": "x"}
    assert labelled.label_fingerprint != fingerprint

    with pytest.raises(exceptions.PreconditionFailed) as raised:
        cloud.instances.set_labels_unary(
            project=PROJECT, zone=ZONE, instance="vm-1", instances_set_labels_request_resource=change
        )
    assert raised.value.code == 412
    without = compute_v1.InstancesSetLabelsRequest(labels={"a": "3"})
    with pytest.raises(exceptions.BadRequest, match="labelFingerprint"):
        cloud.instances.set_labels_unary(
            project=PROJECT, zone=ZONE, instance="vm-1", instances_set_labels_request_resource=without
        )


def test_racing_label_changes_fail_the_later_operation(cloud, gce):
    gce.step_seconds = 60
    cloud.custom_network_with_subnetwork()
    cloud.succeed(cloud.instance())
    fingerprint = get(cloud).label_fingerprint
    first, second = (
        cloud.instances.set_labels_unary(
            project=PROJECT,
            zone=ZONE,
            instance="vm-1",
            instances_set_labels_request_resource=compute_v1.InstancesSetLabelsRequest(
                labels={"writer": writer}, label_fingerprint=fingerprint
            ),
        )
        for writer in ("one", "two")
    )
    assert operation_error(cloud.wait(second)) == ("CONDITION_NOT_MET", 412)
    cloud.succeed(first)
    assert dict(get(cloud).labels) == {"writer": "one"}


def test_set_tags_and_metadata_use_their_fingerprints(cloud):
    cloud.custom_network_with_subnetwork()
    cloud.succeed(cloud.instance())
    instance = get(cloud)
    tags = compute_v1.Tags(items=["web", "ssh"], fingerprint=instance.tags.fingerprint)
    cloud.succeed(
        cloud.instances.set_tags_unary(project=PROJECT, zone=ZONE, instance="vm-1", tags_resource=tags)
    )
    metadata = compute_v1.Metadata(
        items=[compute_v1.Items(key="startup-script", value="echo hi")],
        fingerprint=instance.metadata.fingerprint,
    )
    cloud.succeed(
        cloud.instances.set_metadata_unary(
            project=PROJECT, zone=ZONE, instance="vm-1", metadata_resource=metadata
        )
    )
    changed = get(cloud)
    assert list(changed.tags.items) == ["web", "ssh"]
    assert [(i.key, i.value) for i in changed.metadata.items] == [("startup-script", "echo hi")]
    with pytest.raises(exceptions.PreconditionFailed):
        cloud.instances.set_tags_unary(project=PROJECT, zone=ZONE, instance="vm-1", tags_resource=tags)
    with pytest.raises(exceptions.PreconditionFailed):
        cloud.instances.set_metadata_unary(
            project=PROJECT, zone=ZONE, instance="vm-1", metadata_resource=metadata
        )


@pytest.mark.parametrize(
    "fields, complaint",
    [
        ({"labels": {"iacorch:stack": "shop"}}, "labels"),
        ({"labels": {"stack": "Shop"}}, "labels"),
        ({"machine_type": "e2-small"}, "machineType"),
        ({"machine_type": "zones/us-east1-b/machineTypes/e2-small"}, "machineType"),
        ({"disks": []}, "Boot disk"),
        ({"disks": [boot_disk(), boot_disk()]}, "Boot disk"),
        ({"disks": [boot_disk("debian-12")]}, "sourceImage"),
        ({"network_interfaces": []}, "networkInterfaces"),
        ({"network_interfaces": [interface("regions/us-east1/subnetworks/app")]}, "region"),
        ({"tags": compute_v1.Tags(items=["Web"])}, "tags"),
        ({"metadata": compute_v1.Metadata(items=[compute_v1.Items(key="a b", value="")])}, "metadata"),
    ],
)
def test_request_checks_are_400(cloud, fields, complaint):
    with pytest.raises(exceptions.BadRequest, match=complaint):
        cloud.instance(**fields)


@pytest.mark.parametrize(
    "fields, code",
    [
        ({"machine_type": f"zones/{ZONE}/machineTypes/e2-huge"}, "RESOURCE_NOT_FOUND"),
        (
            {"disks": [boot_disk("projects/debian-cloud/global/images/family/debian-99")]},
            "RESOURCE_NOT_FOUND",
        ),
        ({"disks": [boot_disk(disk_size_gb=5)]}, "INVALID_FIELD_VALUE"),
        ({"network_interfaces": [interface("regions/us-central1/subnetworks/none")]}, "RESOURCE_NOT_FOUND"),
        (
            {"network_interfaces": [compute_v1.NetworkInterface(network="global/networks/vpc")]},
            "INVALID_FIELD_VALUE",
        ),
    ],
)
def test_what_the_request_names_is_checked_in_the_operation(cloud, fields, code):
    cloud.custom_network_with_subnetwork()
    operation = cloud.wait(cloud.instance(**fields))
    assert operation_error(operation)[0] == code
    with pytest.raises(exceptions.NotFound):
        get(cloud)


def test_auto_mode_network_places_the_interface_in_the_regions_subnetwork(cloud):
    cloud.succeed(cloud.network("auto", auto=True))
    cloud.succeed(
        cloud.instance(network_interfaces=[compute_v1.NetworkInterface(network="global/networks/auto")])
    )
    nic = get(cloud).network_interfaces[0]
    assert nic.subnetwork.endswith(f"/regions/{REGION}/subnetworks/auto")
    assert nic.network_i_p == "10.128.0.2"


def test_cpu_quota_fails_the_insert_and_counts_only_running_instances(cloud, gce):
    gce.set_quota("CPUS", 4, region=REGION)
    cloud.custom_network_with_subnetwork()
    cloud.succeed(cloud.instance("vm-1", machine_type=f"zones/{ZONE}/machineTypes/e2-standard-2"))
    cloud.succeed(
        cloud.instance(
            "vm-2", zone="us-central1-b", machine_type="zones/us-central1-b/machineTypes/n1-standard-2"
        )
    )
    operation = cloud.wait(cloud.instance("vm-3"))
    assert operation_error(operation) == ("QUOTA_EXCEEDED", 403)
    assert operation.http_error_message == "FORBIDDEN"
    assert "Quota 'CPUS' exceeded.  Limit: 4.0 in region us-central1." == operation.error.errors[0].message
    quotas = {q.metric: q for q in cloud.regions.get(project=PROJECT, region=REGION).quotas}
    assert (quotas["CPUS"].limit, quotas["CPUS"].usage, quotas["INSTANCES"].usage) == (4, 4, 2)

    cloud.succeed(cloud.instances.stop_unary(project=PROJECT, zone=ZONE, instance="vm-1"))
    cloud.succeed(cloud.instance("vm-3"))
    operation = cloud.wait(cloud.instances.start_unary(project=PROJECT, zone=ZONE, instance="vm-1"))
    assert operation_error(operation)[0] == "QUOTA_EXCEEDED"


def test_aggregated_list_spans_zones_and_warns_on_empty_ones(cloud):
    cloud.custom_network_with_subnetwork()
    cloud.succeed(cloud.instance("vm-a", zone="us-central1-a", labels={"stack": "shop"}))
    cloud.succeed(cloud.instance("vm-b", zone="us-central1-b", labels={"stack": "shop"}))
    cloud.succeed(cloud.instance("vm-c", zone="us-central1-b"))
    request = compute_v1.AggregatedListInstancesRequest(project=PROJECT, filter='labels.stack = "shop"')
    scopes = dict(cloud.instances.aggregated_list(request=request))
    found = {
        scope: [i.name for i in scoped.instances] for scope, scoped in scopes.items() if scoped.instances
    }
    assert found == {"zones/us-central1-a": ["vm-a"], "zones/us-central1-b": ["vm-b"]}
    assert scopes["zones/europe-west1-b"].warning.code == "NO_RESULTS_ON_PAGE"


def test_unknown_zone_is_404(cloud):
    with pytest.raises(exceptions.NotFound, match="zones/mars-north1-a"):
        cloud.instances.get(project=PROJECT, zone="mars-north1-a", instance="vm-1")
