"""Helpers for the GCE server tests: real clients on the server, and builders for the usual resources."""

from __future__ import annotations

from google.cloud import compute_v1

from moto_fixtures.gce import GceServer
from moto_fixtures.gce.clients import GceClients

PROJECT = "test-project"
REGION = "us-central1"
ZONE = "us-central1-a"
DEBIAN_12 = "projects/debian-cloud/global/images/family/debian-12"
DONE = compute_v1.Operation.Status.DONE


class Cloud(GceClients):
    """Real clients pointed at the server, and short ways to build the usual resources."""

    def __init__(self, server: GceServer):
        super().__init__(server.url, PROJECT)
        self.server = server

    def network(self, name: str = "vpc", auto: bool = False) -> compute_v1.Operation:
        resource = compute_v1.Network(name=name, auto_create_subnetworks=auto)
        return self.networks.insert_unary(project=PROJECT, network_resource=resource)

    def subnetwork(
        self, name: str = "app", cidr: str = "10.0.1.0/24", network: str = "vpc", region: str = REGION
    ):
        resource = compute_v1.Subnetwork(name=name, network=f"global/networks/{network}", ip_cidr_range=cidr)
        return self.subnetworks.insert_unary(project=PROJECT, region=region, subnetwork_resource=resource)

    def firewall(self, name: str = "ssh", network: str = "vpc", **fields) -> compute_v1.Operation:
        fields.setdefault("allowed", [compute_v1.Allowed(I_p_protocol="tcp", ports=["22"])])
        fields.setdefault("source_ranges", ["0.0.0.0/0"])
        resource = compute_v1.Firewall(name=name, network=f"global/networks/{network}", **fields)
        return self.firewalls.insert_unary(project=PROJECT, firewall_resource=resource)

    def instance(self, name: str = "vm-1", zone: str = ZONE, **fields) -> compute_v1.Operation:
        fields.setdefault("machine_type", f"zones/{zone}/machineTypes/e2-small")
        fields.setdefault("disks", [boot_disk()])
        fields.setdefault("network_interfaces", [interface()])
        resource = compute_v1.Instance(name=name, **fields)
        return self.instances.insert_unary(project=PROJECT, zone=zone, instance_resource=resource)

    def custom_network_with_subnetwork(self) -> None:
        self.succeed(self.network())
        self.succeed(self.subnetwork())

    def running(self, name: str = "vm-1", zone: str = ZONE) -> compute_v1.Instance:
        """Poll the instance until RUNNING, as a provider would; each GET moves it one step."""
        for _ in range(5):
            instance = self.instances.get(project=PROJECT, zone=zone, instance=name)
            if instance.status == "RUNNING":
                return instance
        raise AssertionError(f"{name} never reached RUNNING, last status {instance.status}")


def boot_disk(image: str = DEBIAN_12, **params) -> compute_v1.AttachedDisk:
    return compute_v1.AttachedDisk(
        boot=True,
        auto_delete=True,
        initialize_params=compute_v1.AttachedDiskInitializeParams(source_image=image, **params),
    )


def interface(
    subnetwork: str = f"regions/{REGION}/subnetworks/app", public: bool = False
) -> compute_v1.NetworkInterface:
    access = [compute_v1.AccessConfig(name="External NAT", type_="ONE_TO_ONE_NAT")] if public else []
    return compute_v1.NetworkInterface(subnetwork=subnetwork, access_configs=access)


def operation_error(operation: compute_v1.Operation) -> tuple[str, int]:
    """(first error code, httpErrorStatusCode) of a failed DONE operation."""
    assert operation.status == DONE
    assert operation.error.errors, "the operation did not fail"
    return operation.error.errors[0].code, operation.http_error_status_code
