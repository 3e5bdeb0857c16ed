"""Rollouts on real VMs behind a real HAProxy, under load from wrk: zero failed requests,
automatic rollback of a bad release, manual rollback, a killed apply resumed, canaries."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from e2e_stacks import ROOT, Cli, demo_stack_file, unique_name
from moto_fixtures.load import WrkRun

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("demo-stack")]


@pytest.fixture(scope="module")
def rollout(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rollout")
    name = unique_name("roll")
    stack = demo_stack_file(tmp, name)
    cli = Cli(tmp / "home")
    cli("apply", stack, "--var", "version=v1", "--auto-approve")
    try:
        yield cli, stack, name
    finally:
        done = cli("destroy", stack, "--auto-approve", check=False)
        assert done.returncode == 0, done.stderr


def lb_url(cli, stack) -> str:
    return cli.status(stack)["load_balancers"]["public"]["url"] + "/"


def versions(cli, stack) -> collections.Counter:
    return collections.Counter(r["release"] for r in cli.status(stack)["services"]["web"]["replicas"])


def answers(url: str, n: int = 24) -> collections.Counter:
    out = collections.Counter()
    for _ in range(n):
        with urllib.request.urlopen(url, timeout=5) as resp:
            out[resp.read().decode().split()[1]] += 1
    return out


class Capacity(threading.Thread):
    """Samples HAProxy: how many of the service's servers are UP and enabled (READY), every 0.2 s."""

    def __init__(self, cli, stack) -> None:
        super().__init__(daemon=True)
        from iacorch.engine import Engine
        from iacorch.haproxy import RuntimeApi
        from iacorch.report import RecordingReporter
        from iacorch.stack.load import load_stack
        from providers import open_provider

        self._home = os.environ.get("IACORCH_HOME")
        os.environ["IACORCH_HOME"] = cli.env["IACORCH_HOME"]  # put back in stop(): other tests share this worker
        sf = load_stack(str(stack))
        self.engine = Engine(sf, open_provider(sf), RecordingReporter())
        self.api = RuntimeApi(self.engine.pool, self.engine.provider.host_address("group.edge[0]"))
        self.samples: list[int] = []
        self.low: list[str] = []  # what the servers were when fewer than six served
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            stats = self.api.stats().backend("public.web")
            serving = sum(1 for s in stats.servers if s.state == "UP" and s.checked_up)
            self.samples.append(serving)
            if serving < 6:
                self.low.append(", ".join(f"{s.name}={s.status}/{s.check_status}" for s in stats.servers))
            time.sleep(0.2)

    def stop(self) -> int:
        self._done.set()
        self.join(10)
        self.engine.close()
        if self._home is None:
            os.environ.pop("IACORCH_HOME", None)
        else:
            os.environ["IACORCH_HOME"] = self._home
        return min(self.samples)


def test_a_rolling_update_under_load_fails_no_request(rollout):
    cli, stack, _ = rollout
    with WrkRun(lb_url(cli, stack), seconds=25, connections=8, rate=400) as load:
        time.sleep(2)
        applied = cli("apply", stack, "--var", "version=v2", "--auto-approve")
    result = load.result()
    assert "rolling update of 6 replica(s) in 6 batch(es)" in applied.stdout
    assert result.requests >= 5000
    assert result.failed == 0, result
    assert set(result.versions) <= {"v1", "v2"} and result.versions.get("v2"), result.versions
    assert answers(lb_url(cli, stack)) == {"version=v2": 24}


def test_a_release_that_fails_its_health_check_is_rolled_back_and_never_answers(rollout):
    cli, stack, _ = rollout
    before = versions(cli, stack)
    with WrkRun(lb_url(cli, stack), seconds=15, connections=8, rate=400) as load:
        time.sleep(1)
        applied = cli("apply", stack, "--var", "version=v3", "--var", "fail_health=1", "--auto-approve", check=False)
    result = load.result()
    assert applied.returncode == 1
    assert "rolled back" in applied.stderr and "service.web[0]" in applied.stderr
    assert "not healthy" in applied.stderr or "unhealthy" in applied.stderr
    assert "last log lines" in applied.stderr and "failing health on purpose" in applied.stderr
    assert "Traceback" not in applied.stderr
    assert result.failed == 0 and "v3" not in result.versions, result
    assert versions(cli, stack) == before  # every replica still on the previous release


def test_replicas_already_switched_go_back_when_a_later_one_fails(rollout):
    cli, stack, _ = rollout
    before = versions(cli, stack)
    applied = cli("apply", stack, "--var", "version=v3", "--var", "fail_health=replica:2", "--auto-approve",
                  check=False)
    assert applied.returncode == 1
    assert "2 replica(s) switched in this apply are back on their previous release" in applied.stderr, applied.stderr
    assert versions(cli, stack) == before
    assert answers(lb_url(cli, stack)) == {"version=v2": 24}


def test_manual_rollback_restores_the_previous_release_in_seconds_without_a_pull(rollout):
    cli, stack, _ = rollout
    listed = cli("releases", stack, "web", "--json")

    releases = json.loads(listed.stdout)["releases"]
    assert [r["started"] for r in releases] == sorted((r["started"] for r in releases), reverse=True)
    active = next(r for r in releases if r["active"])
    assert active["active"] == 6 and active["status"] == "active on 6 replica(s)"
    # the newest release kept on every replica (v1); the failed v3 of the previous test is kept on two only
    previous = next(r for r in releases if not r["active"] and r["kept"] >= 6)
    started = time.monotonic()
    rolled = cli("rollback", stack, "web")
    took = time.monotonic() - started
    assert f"Rolled back web to release {previous['release']} on 6 replica(s)" in rolled.stdout
    assert took < 20, f"rollback took {took:.1f}s"
    assert "pull" not in rolled.stdout + rolled.stderr
    assert versions(cli, stack) == {previous["release"]: 6}
    assert answers(lb_url(cli, stack)) == {"version=v1": 24}
    # the next apply rolls the stack's release out again
    cli("apply", stack, "--var", "version=v2", "--auto-approve")
    assert versions(cli, stack) == {active["release"]: 6}


def test_an_apply_killed_mid_rollout_is_finished_by_the_next_with_capacity_never_below_the_bound(rollout):
    cli, stack, _ = rollout
    capacity = Capacity(cli, stack)
    capacity.start()
    with WrkRun(lb_url(cli, stack), seconds=30, connections=8, rate=300) as load:
        proc = subprocess.Popen([sys.executable, "-m", "iacorch.cli", "apply", str(stack), "--var", "version=v4",
                                 "--auto-approve"], env=cli.env, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        time.sleep(5.0)  # past observe and plan, in the middle of the rollout
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        mixed = versions(cli, stack)
        finished = cli("apply", stack, "--var", "version=v4", "--auto-approve")
    result = load.result()
    lowest = capacity.stop()
    assert len(mixed) == 2, f"the kill was meant to land mid-rollout: {mixed}"
    assert "Apply complete" in finished.stdout
    assert lowest >= 6, f"capacity dropped to {lowest} (replicas 6, max_unavailable 0): {capacity.low[:4]}"
    assert result.failed == 0, result
    assert len(versions(cli, stack)) == 1 and answers(lb_url(cli, stack)) == {"version=v4": 24}
    again = cli("plan", stack, "--var", "version=v4", "--detailed-exitcode", check=False)
    assert again.returncode == 0, again.stdout


def _with_update(stack, update: str):
    text = stack.read_text()
    stack.write_text(text.replace("    resources: {memory: 64M}\n", f"    resources: {{memory: 64M}}\n    update: {update}\n"))
    return text


def test_a_canary_runs_beside_the_old_release_until_promoted(rollout):
    cli, stack, _ = rollout
    original = _with_update(stack, "{canary: 2}")
    try:
        applied = cli("apply", stack, "--var", "version=v5", "--auto-approve")
        assert "Promote it with: iacorch promote" in applied.stdout
        mix = versions(cli, stack)
        assert sorted(mix.values()) == [2, 4], mix
        held = cli("plan", stack, "--var", "version=v5", "--detailed-exitcode", check=False)
        assert held.returncode == 0 and "canary:" in held.stdout
        seen = answers(lb_url(cli, stack), 60)
        assert seen["version=v5"] and seen["version=v4"], seen
        promoted = cli("promote", stack, "web", "--var", "version=v5", "--auto-approve")
        assert "Apply complete" in promoted.stdout
        assert answers(lb_url(cli, stack)) == {"version=v5": 24}
    finally:
        stack.write_text(original)


def test_a_canary_promotes_itself_when_it_stays_healthy(rollout):
    cli, stack, _ = rollout
    original = _with_update(stack, "{canary: 1, auto_promote: true, monitor: 2s}")
    try:
        applied = cli("apply", stack, "--var", "version=v1", "--auto-approve")
        assert "watching the canaries of web" in applied.stderr and "promoting the canaries" in applied.stderr
        assert answers(lb_url(cli, stack)) == {"version=v1": 24}
    finally:
        stack.write_text(original)
