"""stacks/aws-web.yaml against a moto server, with real hosts behind moto's instances:
the EC2 API is simulated, the VMs, sshd, apt, Docker and the app are real."""

from __future__ import annotations

import collections
import json
import urllib.request

import boto3
import pytest
from e2e_stacks import Cli, destroyed_at_end, reference_stack

from moto_fixtures.aws import MotoServer
from moto_fixtures.binder import MotoHostBinder, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("aws-hosts")]


@pytest.fixture(scope="module")
def aws_web(tmp_path_factory, vm_testbed):
    tmp = tmp_path_factory.mktemp("aws-hosts")
    server = MotoServer().start()
    home = tmp / "home"
    bindings = tmp / "bindings.json"
    stack = reference_stack(tmp, "aws-web")
    cli = Cli(home, {**server.env(), "IACORCH_HOST_BINDINGS": str(bindings)})
    cli("plan", stack)  # the first plan generates the stack's SSH key; the hosts behind instances accept it
    key = (home / "stacks" / "aws-web" / "id_ed25519.pub").read_text()
    with MotoHostBinder(vm_testbed, server.url, bindings, key) as binder, destroyed_at_end(cli, stack, binder):
        yield cli, stack, binder, server
    server.stop()


def answers(cli, stack) -> dict[str, str]:
    status = cli.status(stack)
    out = {}
    for r in status["services"]["web"]["replicas"]:
        assert r["state"] == "running", r
        out[r["id"]] = r
    return out


def test_apply_installs_docker_and_runs_the_service_on_real_hosts(aws_web):
    cli, stack, binder, server = aws_web
    applied = cli("apply", stack, "--auto-approve")
    assert "Apply complete" in applied.stdout
    status = cli.status(stack)
    replicas = status["services"]["web"]["replicas"]
    assert len(replicas) == 3 and all(r["health"] == "healthy" for r in replicas)
    assert sorted(collections.Counter(r["host"] for r in replicas).values()) == [1, 1, 1]
    ec2 = boto3.client("ec2", endpoint_url=server.url, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    by_address = {}
    for res in ec2.describe_instances(Filters=[{"Name": "tag:iacorch:group", "Values": ["app"]},
                                               {"Name": "instance-state-name", "Values": ["running"]}])["Reservations"]:
        for i in res["Instances"]:
            tags = {t["Key"]: t["Value"] for t in i["Tags"]}
            by_address[tags["iacorch:address"]] = i["InstanceId"]
    for r in replicas:
        vm = binder.vm_of(by_address[r["host"]])  # the machine behind that moto instance
        with urllib.request.urlopen(f"http://{vm.ip}:{r['port']}/", timeout=5) as resp:
            assert resp.read().decode().startswith(f"replica={r['id']} version=v1")
    again = cli("plan", stack, "--detailed-exitcode", check=False)
    assert again.returncode == 0, again.stdout + again.stderr


def test_without_bindings_moto_addresses_are_never_dialed(aws_web, tmp_path):
    _cli, stack, _binder, server = aws_web
    bare = Cli(tmp_path / "home", {**server.env()})
    plan = bare("plan", stack, check=False)
    assert plan.returncode == 0
    assert "unreachable" in plan.stdout and "has no host binding" in plan.stdout


def test_a_terminated_instance_is_made_again_by_the_control_loop(aws_web):
    cli, stack, binder, server = aws_web
    ec2 = boto3.client("ec2", endpoint_url=server.url, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    before = answers(cli, stack)
    victim_host = before["1"]["host"]
    found = ec2.describe_instances(Filters=[{"Name": "tag:iacorch:address", "Values": [victim_host]},
                                            {"Name": "instance-state-name", "Values": ["running"]}])
    victim = found["Reservations"][0]["Instances"][0]["InstanceId"]
    ec2.terminate_instances(InstanceIds=[victim])
    assert wait_until(lambda: victim not in binder.vms, timeout=60)  # its VM is gone with it
    healed = cli("reconcile", stack, "--passes", "2", "--json", timeout=900)
    events = [json.loads(line) for line in healed.stdout.splitlines() if line.startswith("{")]
    assert {"subject": victim_host, "action": "take out"} in [{k: e[k] for k in ("subject", "action")} for e in events]
    made = [e for e in events if e["subject"] == victim_host and e["action"] == "create"]
    assert made and made[0]["result"] == "ok", events
    after = answers(cli, stack)
    assert len(after) == 3 and all(r["health"] == "healthy" for r in after.values())
    assert after["1"]["host"] == victim_host and victim not in binder.vms
    logged = cli("events", stack, "--json").stdout
    assert victim_host in logged and '"create"' in logged
    again = cli("plan", stack, "--detailed-exitcode", check=False)
    assert again.returncode == 0, again.stdout + again.stderr
