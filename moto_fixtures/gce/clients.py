"""Building real google-cloud-compute clients that talk to a `GceServer`.

The REST transport is the only one the server speaks; the endpoint must carry
``http://`` (without it the client tries TLS); anonymous credentials keep the
client from looking for real ones. Long-running operations must be polled
with operations clients built the same way (``insert().result()`` polls
through an internal client that goes to the public endpoint).
"""

from __future__ import annotations

from typing import Any, TypeVar

from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials

Client = TypeVar("Client")


def client_settings(endpoint: str) -> dict[str, Any]:
    """Keyword arguments for any ``compute_v1.*Client``: ``compute_v1.NetworksClient(**client_settings(url))``."""
    return {
        "client_options": ClientOptions(api_endpoint=endpoint),
        "credentials": AnonymousCredentials(),
        "transport": "rest",
    }


def compute_client(client_class: type[Client], endpoint: str) -> Client:
    return client_class(**client_settings(endpoint))


class GceClients:
    """Real clients on one server, for tests that look behind iacorch's back or change things
    there, with ``wait``/``succeed`` for an operation of any scope (zone, region, global)."""

    def __init__(self, endpoint: str, project: str) -> None:
        from google.cloud import compute_v1

        self.project = project

        def client(client_class):
            return compute_client(client_class, endpoint)

        self.networks = client(compute_v1.NetworksClient)
        self.subnetworks = client(compute_v1.SubnetworksClient)
        self.firewalls = client(compute_v1.FirewallsClient)
        self.templates = client(compute_v1.InstanceTemplatesClient)
        self.instances = client(compute_v1.InstancesClient)
        self.zones = client(compute_v1.ZonesClient)
        self.regions = client(compute_v1.RegionsClient)
        self.machine_types = client(compute_v1.MachineTypesClient)
        self.images = client(compute_v1.ImagesClient)
        self.zone_operations = client(compute_v1.ZoneOperationsClient)
        self.region_operations = client(compute_v1.RegionOperationsClient)
        self.global_operations = client(compute_v1.GlobalOperationsClient)

    def wait(self, operation):
        """Wait on an operation through the operations client of its scope; returns it DONE."""
        from google.cloud import compute_v1

        if operation.zone:
            done = self.zone_operations.wait(project=self.project, zone=operation.zone.rsplit("/", 1)[1],
                                             operation=operation.name)
        elif operation.region:
            done = self.region_operations.wait(project=self.project, region=operation.region.rsplit("/", 1)[1],
                                               operation=operation.name)
        else:
            done = self.global_operations.wait(project=self.project, operation=operation.name)
        assert done.status == compute_v1.Operation.Status.DONE
        return done

    def succeed(self, operation):
        """Wait on an operation that must succeed."""
        done = self.wait(operation)
        assert not done.error.errors, done.error
        return done
