"""How the GCP provider reaches the hosts behind its instances, without dialing anything:
external IP else internal IP on a real project, bindings (keyed by the instance path)
offline, never the local API's addresses. Placement capacity from machine types."""

from __future__ import annotations

import json
import pathlib
from types import SimpleNamespace

import pytest
from gcp_engine import edited, load

from iacorch.errors import ProviderError
from iacorch.resources import Observed, ObservedResource
from providers.gcp.hosts import GcpHosts, custom_size, template_capacity
from providers.hosts import BINDINGS_ENV

PATH = "projects/iacorch-demo/zones/us-central1-a/instances/gcp-web-app-0-1a2b3c"
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFGasxJSZtcAkW/hMIIK3GJ/uxrKMkcURUVPcEWe3nmi vm"


def hosts(*, local: bool, public_ip: str | None = "34.1.2.3") -> GcpHosts:
    session = SimpleNamespace(local_endpoint=local, endpoint=None)
    found = GcpHosts(session, load())  # type: ignore[arg-type]
    found.remember(Observed("gcp-web", "gcp", {"group.app[0]": ObservedResource(
        "group.app[0]", "instance", PATH, {"private_ip": "10.20.1.2", "public_ip": public_ip})}))
    return found


def test_a_real_instance_is_reached_by_its_external_ip_as_the_template_user(monkeypatch):
    monkeypatch.delenv(BINDINGS_ENV, raising=False)
    address = hosts(local=False).address("group.app[0]", None)
    assert (address.host, address.port, address.user, address.jump) == ("34.1.2.3", 22, "admin", None)
    assert address.key_path.endswith("stacks/gcp-web/id_ed25519")


def test_without_an_external_ip_it_is_the_internal_ip_and_peers_use_the_internal_ip(monkeypatch):
    monkeypatch.delenv(BINDINGS_ENV, raising=False)
    found = hosts(local=False, public_ip=None)
    assert found.address("group.app[0]", None).host == "10.20.1.2"
    assert found.peer_ip("group.app[0]", None) == "10.20.1.2"
    assert found.lb_url("group.app[0]", 80) == "http://10.20.1.2:80"


def test_the_local_api_s_addresses_are_never_dialed(monkeypatch):
    monkeypatch.delenv(BINDINGS_ENV, raising=False)
    with pytest.raises(ProviderError) as err:
        hosts(local=True).address("group.app[0]", None)
    assert err.value.message.startswith("instance gcp-web-app-0-1a2b3c has no host binding")
    assert err.value.where == "group.app[0]" and BINDINGS_ENV in err.value.hint


def test_a_binding_is_found_by_the_instance_path_and_pins_its_host_key(monkeypatch, tmp_path):
    bindings = tmp_path / "bindings.json"
    bindings.write_text(json.dumps({"instances": {PATH: {
        "host": "127.0.0.1", "port": 40022, "user": "root", "host_key": HOST_KEY, "ip": "172.30.0.7",
        "state": "running"}}}))
    monkeypatch.setenv(BINDINGS_ENV, str(bindings))
    found = hosts(local=True)
    address = found.address("group.app[0]", None)
    assert (address.host, address.port, address.user) == ("127.0.0.1", 40022, "root")
    assert address.host_key_alias == "gcp-web-app-0-1a2b3c"
    known = pathlib.Path(address.known_hosts).read_text()
    assert f"gcp-web-app-0-1a2b3c {' '.join(HOST_KEY.split()[:2])}" in known
    assert found.peer_ip("group.app[0]", None) == "172.30.0.7"
    assert found.lb_url("group.app[0]", 8080) == "http://172.30.0.7:8080"


def test_a_missing_instance_says_to_apply():
    with pytest.raises(ProviderError, match="group.app\\[5\\] does not exist") as err:
        hosts(local=False).address("group.app[5]", None)
    assert err.value.hint == "run apply to create it"


def test_capacity_comes_from_the_machine_type_and_custom_types_say_their_size():
    assert template_capacity(load()) == {"node": {"cpus": 2, "memory": 2 * 1024**3}}
    custom = edited(("app_type: e2-small", "app_type: n2-custom-4-6144"))
    assert template_capacity(custom) == {"node": {"cpus": 4, "memory": 6 * 1024**3}}
    assert custom_size("e2-unknown") is None
    assert template_capacity(edited(("app_type: e2-small", "app_type: x9-huge"))) == {}
