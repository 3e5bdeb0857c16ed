"""The demo stack end to end on the local provider: real VMs (systemd + sshd in
containers), Docker installed over SSH with apt, the app built here and shipped,
replicas health-gated. One stack for the module; tests run in order on it."""

from __future__ import annotations

import collections
import subprocess
import time
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
    assert all(h["docker"] for h in status["hosts"] if h["group"] == "app"), status["hosts"]
    assert [h["docker"] for h in status["hosts"] if h["group"] == "edge"] == [None]  # HAProxy only, no Docker
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
    assert {h["name"] for h in status["hosts"]} == {"group.app[0]", "group.app[1]", "group.app[2]", "group.edge[0]"}
    for h in status["hosts"]:
        assert h["state"] == "running" and h["address"]
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
        assert len(others) == 4 and all(r["release"] == others[0]["release"] for r in others)
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


# -- the load balancer in front of the replicas ---------------------------------------------------

def lb_url(cli, stack) -> str:
    url = cli.status(stack)["load_balancers"]["public"]["url"]
    assert url and url.startswith("http://127.0.0.1:"), url
    return url


def get(url: str) -> str:
    with urllib.request.urlopen(url + "/", timeout=5) as resp:
        return resp.read().decode().strip()


def replica_of(text: str) -> str:
    return text.split()[0].removeprefix("replica=")


def edit_stack(stack, old: str, new: str):
    text = stack.read_text()
    assert old in text, old
    stack.write_text(text.replace(old, new, 1))
    return text


def test_the_app_answers_through_the_load_balancer_url(demo):
    cli, stack, _ = demo
    cli("apply", stack, "--var", "version=v3", "--auto-approve")
    assert get(lb_url(cli, stack)).startswith("replica=")


def test_roundrobin_spreads_60_requests_within_one_of_even(demo):
    cli, stack, _ = demo
    url = lb_url(cli, stack)
    counts = collections.Counter(replica_of(get(url)) for _ in range(60))
    assert set(counts) == {str(i) for i in range(6)}, counts
    assert max(counts.values()) - min(counts.values()) <= 2 and all(9 <= n <= 11 for n in counts.values()), counts
    backends = cli.status(stack)["load_balancers"]["public"]["backends"]
    active = [b for b in backends if b["role"] == "active"]
    assert len(active) == 6 and all(b["state"] == "UP" for b in active)
    assert sum(b["requests"] for b in active) >= 60


def test_source_sends_one_client_to_one_replica(demo):
    cli, stack, _ = demo
    original = edit_stack(stack, "algorithm: roundrobin", "algorithm: source")
    try:
        cli("apply", stack, "--var", "version=v3", "--auto-approve")
        url = lb_url(cli, stack)
        assert len({replica_of(get(url)) for _ in range(20)}) == 1
    finally:
        stack.write_text(original)
    cli("apply", stack, "--var", "version=v3", "--auto-approve")


def test_a_replica_stopped_by_hand_is_down_within_fall_times_inter_and_gets_no_traffic(demo):
    cli, stack, _ = demo
    url = lb_url(cli, stack)
    status = cli.status(stack)
    server = next(b["server"] for b in status["load_balancers"]["public"]["backends"]
                  if b["role"] == "active" and b["server"].startswith("web-2"))
    vm, container = _vm_of(status, "2")
    docker("exec", vm, "docker", "stop", container)
    stopped = time.monotonic()
    # fall (unhealthy: 2) x inter (interval: 1s), plus one check's timeout (1s)
    bound = 2 * 1.0 + 1.0
    state, took = None, None
    while time.monotonic() - stopped < bound + 10:
        backends = cli.status(stack)["load_balancers"]["public"]["backends"]
        state = next(b["state"] for b in backends if b["server"] == server)
        if state == "DOWN":
            took = time.monotonic() - stopped
            break
    assert state == "DOWN"
    assert took <= bound + 1.5, f"{server} was marked DOWN {took:.1f}s after its container stopped"
    assert "2" not in {replica_of(get(url)) for _ in range(30)}
    cli("apply", stack, "--var", "version=v3", "--auto-approve")  # starts it again
    assert wait_for_replica(url, "2")


def wait_for_replica(url: str, replica: str, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if replica in {replica_of(get(url)) for _ in range(12)}:
            return True
        time.sleep(0.5)
    return False


def test_a_config_haproxy_rejects_is_never_installed_and_the_old_one_keeps_serving(demo):
    cli, stack, _ = demo
    url = lb_url(cli, stack)
    original = edit_stack(stack, "algorithm: roundrobin", "algorithm: roundrobin\n    options: [option frobnicate]")
    try:
        applied = cli("apply", stack, "--var", "version=v3", "--auto-approve", check=False)
    finally:
        stack.write_text(original)
    assert applied.returncode == 1
    assert "HAProxy rejected the new config" in applied.stderr and "frobnicate" in applied.stderr
    assert "line " in applied.stderr and "Traceback" not in applied.stderr
    assert get(url).startswith("replica=")  # still serving, with the old config
    assert cli("plan", stack, "--var", "version=v3", "--detailed-exitcode").returncode == 0


def test_a_reload_under_continuous_load_fails_no_request(demo):
    from moto_fixtures.load import WrkRun

    cli, stack, _ = demo
    url = lb_url(cli, stack)
    original = edit_stack(stack, "algorithm: roundrobin", "algorithm: roundrobin\n    timeouts: {server: 20s}")
    try:
        with WrkRun(url + "/", seconds=12, connections=8) as load:
            time.sleep(2)
            plan = cli("plan", stack, "--var", "version=v3", check=False)
            assert "~ haproxy@group.edge[0]" in plan.stdout
            cli("apply", stack, "--var", "version=v3", "--auto-approve")
        result = load.result()
    finally:
        stack.write_text(original)
    assert result.requests > 1000
    assert result.failed == 0, result
    cli("apply", stack, "--var", "version=v3", "--auto-approve")
