"""The server itself: HTTP edges the client cannot produce, project scoping, loopback only, standalone run."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from gce_cloud import PROJECT, ZONE
from google.api_core import exceptions
from google.cloud import compute_v1

from moto_fixtures.gce import GceServer
from moto_fixtures.gce.clients import compute_client


def raw_request(url: str, method: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=body, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_gce_client_fixture_builds_clients_on_the_fresh_server(gce_client, gce):
    networks = gce_client(compute_v1.NetworksClient)
    assert list(networks.list(project=PROJECT)) == []
    assert gce.requests == {"compute.networks.list": 1}


def test_concurrent_callers_get_distinct_addresses(cloud):
    cloud.custom_network_with_subnetwork()

    def create(index: int) -> str:
        cloud.succeed(cloud.instance(f"vm-{index}"))
        return (
            cloud.instances.get(project=PROJECT, zone=ZONE, instance=f"vm-{index}")
            .network_interfaces[0]
            .network_i_p
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        addresses = list(pool.map(create, range(16)))
    assert len(set(addresses)) == 16


def test_malformed_json_is_400_in_googles_error_shape(gce):
    status, body = raw_request(
        f"{gce.url}/compute/v1/projects/{PROJECT}/global/networks", "POST", b'{"name": '
    )
    assert status == 400
    assert body["error"]["code"] == 400
    assert body["error"]["errors"][0]["reason"] == "parseError"
    assert body["error"]["errors"][0]["domain"] == "global"


def test_a_body_that_is_not_an_object_is_400(gce):
    status, body = raw_request(f"{gce.url}/compute/v1/projects/{PROJECT}/global/networks", "POST", b"[1]")
    assert status == 400 and "JSON object" in body["error"]["message"]


def test_methods_not_implemented_are_501_not_404(cloud, gce):
    with pytest.raises(exceptions.MethodNotImplemented, match="reset"):
        cloud.instances.reset_unary(project=PROJECT, zone=ZONE, instance="vm-1")
    assert gce.requests["unimplemented"] == 1


def test_fields_the_server_does_not_model_are_refused(cloud):
    cloud.custom_network_with_subnetwork()
    with pytest.raises(exceptions.BadRequest, match="deletionProtection"):
        cloud.instance(deletion_protection=True)


def test_a_server_for_one_project_hides_the_others_but_not_public_images():
    with GceServer(project="mine") as server:
        networks = compute_client(compute_v1.NetworksClient, server.url)
        assert list(networks.list(project="mine")) == []
        with pytest.raises(exceptions.NotFound, match="projects/yours"):
            list(networks.list(project="yours"))
        images = compute_client(compute_v1.ImagesClient, server.url)
        assert images.get_from_family(project="debian-cloud", family="debian-12").family == "debian-12"


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::1"])
def test_only_ipv4_loopback_is_bound(host):
    with pytest.raises(ValueError, match="loopback"):
        GceServer(host=host)


def test_standalone_command_serves_until_stopped():
    process = subprocess.Popen(
        [sys.executable, "-m", "moto_fixtures.gce", "--port", "0", "--quiet", "--project", PROJECT],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        banner = process.stdout.readline()
        endpoint = banner.split(" on ", 1)[1].split()[0]
        assert endpoint.startswith("http://127.0.0.1:")
        zones = compute_client(compute_v1.ZonesClient, endpoint)
        assert zones.get(project=PROJECT, zone=ZONE).name == ZONE
    finally:
        process.terminate()
        process.wait(timeout=5)
