"""stacks/gcp-web.yaml against the local GCE API, with real hosts behind its instances:
the Compute Engine API is simulated, the VMs, sshd, apt, Docker and the app are real.

The tests run in order on one stack: apply on fresh instances, a stopped instance,
a plan without bindings, then destroy."""

from __future__ import annotations

import collections
import json
import urllib.request

import pytest
from e2e_stacks import Cli, destroyed_at_end, reference_stack
from google.cloud import compute_v1

from moto_fixtures.binder import wait_until
from moto_fixtures.gce import GceServer
from moto_fixtures.gce.clients import compute_client
from moto_fixtures.gce_binder import GceHostBinder

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("gcp-hosts")]

PROJECT = "iacorch-demo"
STEP_SECONDS = 0.05  # GCE operations and boots move on this fast; the hosts behind them are what takes time


@pytest.fixture(scope="module")
def gcp_web(tmp_path_factory, vm_testbed):
    tmp = tmp_path_factory.mktemp("gcp-hosts")
    home = tmp / "home"
    bindings = tmp / "bindings.json"
    stack = reference_stack(tmp, "gcp-web")
    with GceServer() as server:
        server.step_seconds = STEP_SECONDS
        cli = Cli(home, {"IACORCH_GCP_ENDPOINT": server.url, "IACORCH_HOST_BINDINGS": str(bindings)})
        first = cli("plan", stack, "--detailed-exitcode", check=False)  # also generates the stack's SSH key
        assert first.returncode == 2, first.stdout + first.stderr
        for i in range(3):  # Docker goes onto each app host, over SSH, once its instance exists
            assert f"+ docker@group.app[{i}]" in first.stdout, first.stdout
        key = (home / "stacks" / "gcp-web" / "id_ed25519.pub").read_text()
        with GceHostBinder(vm_testbed, server.url, bindings, key, project=PROJECT) as binder, \
                destroyed_at_end(cli, stack, binder):
            yield cli, stack, binder, server


def instances(server: GceServer) -> dict[str, compute_v1.Instance]:
    """The stack's instances by address, as the API has them."""
    client = compute_client(compute_v1.InstancesClient, server.url)
    pager = client.aggregated_list(request={"project": PROJECT, "filter": "labels.iacorch-stack = gcp-web"})
    return {i.description.split("address=", 1)[1]: i for _, scoped in pager for i in scoped.instances}


def assert_serving(cli: Cli, stack, binder: GceHostBinder) -> None:
    """3 healthy replicas, one per app host, each answering on the machine behind its instance."""
    status = cli.status(stack)
    running = status["services"]["web"]["replicas"]
    assert len(running) == 3 and all(r["state"] == "running" and r["health"] == "healthy" for r in running), running
    assert sorted(collections.Counter(r["host"] for r in running).values()) == [1, 1, 1]
    ids = {h["name"]: h["id"] for h in status["hosts"]}
    for r in running:
        vm = binder.vm_of(ids[r["host"]])  # the machine bound to that GCE instance
        with urllib.request.urlopen(f"http://{vm.ip}:{r['port']}/", timeout=5) as resp:
            assert resp.read().decode().startswith(f"replica={r['id']} version=v1")


def test_apply_installs_docker_and_runs_the_service_on_real_hosts(gcp_web):
    cli, stack, binder, server = gcp_web
    applied = cli("apply", stack, "--auto-approve")
    assert "Apply complete" in applied.stdout
    app = {a: i for a, i in instances(server).items() if a.startswith("group.app[")}
    assert sorted(i.zone.rsplit("/", 1)[1] for i in app.values()) == ["us-central1-a", "us-central1-a",
                                                                       "us-central1-b"]
    hosts = {h["name"]: h for h in cli.status(stack)["hosts"]}
    assert sorted(hosts) == ["group.app[0]", "group.app[1]", "group.app[2]", "group.edge[0]"]
    for address in app:  # Docker was installed over SSH on every app host
        assert hosts[address]["state"] == "running" and hosts[address]["docker"], hosts[address]
    assert_serving(cli, stack, binder)
    again = cli("plan", stack, "--detailed-exitcode", check=False)
    assert again.returncode == 0, again.stdout + again.stderr


def test_a_stopped_instance_shows_in_status_and_plan_and_apply_starts_it(gcp_web):
    cli, stack, binder, server = gcp_web
    target = instances(server)["group.app[0]"]
    path = f"projects/{PROJECT}/zones/{target.zone.rsplit('/', 1)[1]}/instances/{target.name}"
    compute_client(compute_v1.InstancesClient, server.url).stop_unary(
        project=PROJECT, zone=target.zone.rsplit("/", 1)[1], instance=target.name)
    assert wait_until(lambda: binder.states.get(path) == "stopped", timeout=60), binder.states
    hosts = {h["name"]: h for h in cli.status(stack)["hosts"]}
    assert hosts["group.app[0]"]["state"] == "stopped", hosts["group.app[0]"]
    plan = cli("plan", stack, "--detailed-exitcode", check=False)
    assert plan.returncode == 2, plan.stdout + plan.stderr
    lines = plan.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.strip().startswith("~ group.app[0]"))
    assert "# state changed" in lines[head] and lines[head + 1].strip() == 'state: "stopped" -> "running"', plan.stdout
    cli("apply", stack, "--auto-approve")
    assert instances(server)["group.app[0]"].status == "RUNNING"
    assert_serving(cli, stack, binder)
    again = cli("plan", stack, "--detailed-exitcode", check=False)
    assert again.returncode == 0, again.stdout + again.stderr


def test_without_bindings_gce_addresses_are_never_dialed(gcp_web, tmp_path):
    _cli, stack, _binder, server = gcp_web
    bare = Cli(tmp_path / "home", {"IACORCH_GCP_ENDPOINT": server.url})
    plan = bare("plan", stack, check=False)
    assert plan.returncode == 0, plan.stderr
    assert "unreachable" in plan.stdout and "has no host binding" in plan.stdout, plan.stdout
    assert "Traceback" not in plan.stdout + plan.stderr


def test_destroy_leaves_no_instances_and_no_vms(gcp_web):
    cli, stack, binder, server = gcp_web
    vms = [vm.name for vm in binder.vms.values()]
    assert len(vms) == 4
    destroyed = cli("destroy", stack, "--auto-approve")
    assert "Destroy complete" in destroyed.stdout, destroyed.stdout
    assert instances(server) == {}
    assert wait_until(lambda: not binder.vms, timeout=60), binder.vms
    # a VM leaves binder.vms as its removal starts: wait for the containers themselves to be gone
    assert wait_until(lambda: all(binder.testbed.machines.inspect(name) is None for name in vms), timeout=60)
    assert json.loads(binder.bindings.read_text()) == {"instances": {}}
    again = cli("plan", stack, "--detailed-exitcode", check=False)
    assert again.returncode == 2  # everything is to be created again
