"""The demo stack end to end on the local provider: real VMs (systemd + sshd in
containers), Docker installed over SSH with apt, the app built here and shipped,
replicas health-gated. One stack for the module; tests run in order on it."""

from __future__ import annotations

import collections
import subprocess
import urllib.request

import pytest

from providers.local import LABEL_STACK, LocalMachines, leaked_cgroup_dirs
from e2e_stacks import Cli, demo_stack_file, unique_name

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("demo-stack")]


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout


def answers(status: dict) -> dict[str, str]:
    """GET / of every replica, straight to it (VM address, published port)."""
    hosts = {h["name"]: h["address"] for h in status["hosts"]}
    out = {}
    for r in status["services"]["web"]["replicas"]:
        with urllib.request.urlopen(f"http://{hosts[r['host']]}:{r['port']}/", timeout=5) as resp:
            out[r["id"]] = resp.read().decode().strip()
    return out


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    name = unique_name("demo")
    stack = demo_stack_file(tmp, name)
    cli = Cli(tmp / "home")
    machines = LocalMachines()
    try:
        yield cli, stack, name
    finally:
        vm_ids = [vm.id for vm in machines.observe({LABEL_STACK: name})]
        nested = []
        for vm in machines.observe({LABEL_STACK: name}):
            if vm.running:
                nested += machines.docker.text(["exec", vm.name, "sh", "-c", "docker ps -q --no-trunc || true"]).split()
        destroyed = cli("destroy", stack, "--auto-approve", check=False)
        leftovers = {
            "containers": docker("ps", "-a", "--filter", f"label={LABEL_STACK}={name}", "-q").split(),
            "volumes": docker("volume", "ls", "--filter", f"label={LABEL_STACK}={name}", "-q").split(),
            "networks": docker("network", "ls", "--filter", f"label={LABEL_STACK}={name}", "-q").split(),
            "cgroups": leaked_cgroup_dirs(vm_ids + nested),
        }
        if any(leftovers.values()):
            machines.remove_stack(name)
        assert destroyed.returncode == 0, destroyed.stderr
        assert not any(leftovers.values()), f"destroy left {leftovers}"


def test_apply_runs_six_replicas_spread_2_2_2_each_answering(demo):
    cli, stack, _ = demo
    applied = cli("apply", stack, "--auto-approve")
    assert "Apply complete" in applied.stdout
    status = cli.status(stack)
    replicas = status["services"]["web"]["replicas"]
    assert len(replicas) == 6
    assert all(r["state"] == "running" and r["health"] == "healthy" for r in replicas), replicas
    assert sorted(collections.Counter(r["host"] for r in replicas).values()) == [2, 2, 2]
    assert all(h["docker"] for h in status["hosts"]), status["hosts"]
    got = answers(status)
    assert got == {str(i): got[str(i)] for i in range(6)}
    assert all(text.startswith(f"replica={i} version=v1") for i, text in ((int(k), v) for k, v in got.items()))


def test_reapply_says_no_changes(demo):
    cli, stack, _ = demo
    again = cli("apply", stack, "--auto-approve")
    assert "No changes." in again.stdout
    assert cli("plan", stack, "--detailed-exitcode").returncode == 0


def _vm_of(status: dict, replica: str) -> tuple[str, str]:
    r = next(r for r in status["services"]["web"]["replicas"] if r["id"] == replica)
    host = next(h for h in status["hosts"] if h["name"] == r["host"])
    return host["id"], r["container"]


def test_container_removed_by_hand_shows_in_plan_and_apply_restores_it(demo):
    cli, stack, _ = demo
    vm, container = _vm_of(cli.status(stack), "4")
    docker("exec", vm, "docker", "rm", "-f", container)
    plan = cli("plan", stack, "--detailed-exitcode", check=False)
    assert plan.returncode == 2
    assert "+ service.web[4]" in plan.stdout
    assert "Plan: 1 to add, 0 to change, 0 to replace, 0 to destroy." in plan.stdout
    cli("apply", stack, "--auto-approve")
    status = cli.status(stack)
    assert answers(status)["4"].startswith("replica=4 version=v1")


def test_container_stopped_by_hand_is_drift_and_apply_starts_it(demo):
    cli, stack, _ = demo
    vm, container = _vm_of(cli.status(stack), "1")
    docker("exec", vm, "docker", "stop", container)
    plan = cli("plan", stack, check=False)
    assert "~ service.web[1]" in plan.stdout and 'state: "exited" -> "running"' in plan.stdout
    cli("apply", stack, "--auto-approve")
    assert cli("plan", stack, "--detailed-exitcode").returncode == 0


def test_changing_an_env_value_replaces_the_replicas(demo):
    cli, stack, _ = demo
    before = {r["id"]: r["release"] for r in cli.status(stack)["services"]["web"]["replicas"]}
    plan = cli("plan", stack, "--var", "version=v2", check=False)
    assert plan.stdout.count("-/+ service.web[") == 6
    assert 'env: {"FAIL_HEALTH": "", "VERSION": "v1"} -> {"FAIL_HEALTH": "", "VERSION": "v2"}' in plan.stdout
    assert "forces replacement" in plan.stdout
    cli("apply", stack, "--var", "version=v2", "--auto-approve")
    status = cli.status(stack)
    after = {r["id"]: r["release"] for r in status["services"]["web"]["replicas"]}
    assert after.keys() == before.keys() and all(after[k] != before[k] for k in after)
    assert all(" version=v2 " in text for text in answers(status).values())
    # the previous release is kept, stopped, for rollback
    assert set(before.values()) <= set(status["services"]["web"]["retained_releases"])


def test_status_json_shape(demo):
    cli, stack, _ = demo
    status = cli.status(stack)
    assert {h["name"] for h in status["hosts"]} == {"group.app[0]", "group.app[1]", "group.app[2]"}
    for h in status["hosts"]:
        assert h["group"] == "app" and h["state"] == "running" and h["address"]
    for r in status["services"]["web"]["replicas"]:
        assert {"id", "host", "state", "health", "release"} <= r.keys()
    table = cli("status", stack).stdout
    assert "service web: 6/6 running" in table and "REPLICA" in table


def test_unreachable_host_is_named_and_the_others_are_updated(demo):
    cli, stack, _ = demo
    status = cli.status(stack)
    vm = next(h["id"] for h in status["hosts"] if h["name"] == "group.app[1]")
    docker("exec", vm, "systemctl", "stop", "ssh.socket", "ssh.service")
    try:
        plan = cli("plan", stack, "--var", "version=v3", check=False)
        assert plan.returncode == 0, plan.stderr
        assert "group.app[1]: unreachable" in plan.stdout
        applied = cli("apply", stack, "--var", "version=v3", "--auto-approve", check=False)
        assert applied.returncode == 1
        assert "group.app[1] is unreachable" in applied.stderr and "Traceback" not in applied.stderr
        others = [r for r in cli.status(stack)["services"]["web"]["replicas"] if r["host"] != "group.app[1]"]
        assert len(others) == 4
    finally:
        docker("exec", vm, "systemctl", "start", "ssh.service")
    cli("apply", stack, "--var", "version=v3", "--auto-approve")
    assert all(" version=v3 " in t for t in answers(cli.status(stack)).values())


def test_a_wrong_host_key_is_refused_with_a_clear_message(demo):
    cli, stack, name = demo
    known_hosts = cli.env["IACORCH_HOME"] + f"/stacks/{name}/known_hosts"
    original = open(known_hosts).read()
    vm = f"iacorch-{name}-app-2"
    from providers.local import KeyPair

    forged = KeyPair.generate()
    lines = [(f"{vm} {forged.key_type} {forged.key_base64}" if line.startswith(vm + " ") else line)
             for line in original.splitlines()]
    open(known_hosts, "w").write("\n".join(lines) + "\n")
    try:
        plan = cli("plan", stack, "--var", "version=v3", check=False)
        assert plan.returncode == 1
        assert "group.app[2]" in plan.stderr and "host key" in plan.stderr.lower()
        assert "Traceback" not in plan.stderr
    finally:
        open(known_hosts, "w").write(original)
    assert cli("plan", stack, "--var", "version=v3", "--detailed-exitcode").returncode == 0
