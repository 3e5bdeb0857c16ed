"""The deployment's one round trip, run here through /bin/sh with this machine's haproxy for ``-c``
and stand-ins for systemctl and socat (the e2e tests run it on real VMs)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from iacorch.command import CommandFailed, CommandResult
from iacorch.haproxy import HaproxyConfigRejected, haproxy_config, render_config
from iacorch.haproxy.deploy import ConfigDeployment
from iacorch.haproxy.install import install_haproxy, parse_install
from iacorch.stack.services import LoadBalancer, Service

FIXTURES = Path(__file__).parent / "fixtures" / "haproxy"
HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)


@pytest.fixture(autouse=True)
def real_haproxy():
    # these check configs with the real haproxy binary: without it they fail, never skip
    if HAPROXY is None:
        pytest.fail("haproxy is not installed here: apt-get install haproxy (make test installs it)")

SYSTEMCTL = """#!/bin/sh
echo "$*" >> "$FAKE/calls"
case "$1" in
  is-active) [ -e "$FAKE/active" ] ;;
  reload) [ -e "$FAKE/stuck" ] || echo $(( $(cat "$FAKE/pid") + 1 )) > "$FAKE/pid" ;;
  restart) touch "$FAKE/active"; echo 100 > "$FAKE/pid" ;;
esac
"""
SOCAT = """#!/bin/sh
read -r command
case "$command" in
  "show info") echo "Name: HAProxy"; echo "Pid: $(cat "$FAKE/pid")" ;;
  "show servers state") cat "$FAKE/state-dump" ;;
esac
echo
"""


@pytest.fixture
def host(tmp_path):
    """A directory standing in for a host: /etc/haproxy, the state file, fake systemctl and socat."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("systemctl", SYSTEMCTL), ("socat", SOCAT)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    os.symlink(HAPROXY, bin_dir / "haproxy")
    (tmp_path / "pid").write_text("41\n")
    (tmp_path / "state-dump").write_text((FIXTURES / "show_servers_state.txt").read_text())
    return tmp_path


def deployment(host: Path, endpoints, options=(), reload_wait=10.0) -> ConfigDeployment:
    services = {"web": Service(image="x", group="app", port=80, health={"http": "/healthz", "interval": "1s"})}
    config = haproxy_config({"public": LoadBalancer(group="edge", service="web", options=list(options))}, services,
                            {"web": endpoints})
    config = dataclasses.replace(config, state_file=str(host / "server-state"))
    return ConfigDeployment(render_config(config), target=str(host / "haproxy.cfg"),
                            state_file=str(host / "server-state"), admin_socket=str(host / "admin.sock"),
                            reload_wait=reload_wait)


def run(host: Path, plan: ConfigDeployment) -> CommandResult:
    command = plan.command()
    env = {**os.environ, "PATH": f"{host / 'bin'}:{os.environ['PATH']}", "FAKE": str(host)}
    done = subprocess.run(["sh", "-c", command.render()], input=command.stdin, capture_output=True, env=env,
                          timeout=60, check=False)
    return CommandResult("group.edge[0]", command.masked(), done.returncode, done.stdout.decode(),
                         done.stderr.decode(), 0.0)


def calls(host: Path) -> list[str]:
    path = host / "calls"
    return path.read_text().splitlines() if path.exists() else []


SAME = [("web-1", "192.168.64.3", 8081), ("web-4", "192.168.64.3", 8099)]


def test_a_fresh_host_gets_the_config_and_haproxy_started(host):
    plan = deployment(host, SAME)
    result = run(host, plan)
    outcome = plan.parse(result)
    assert (outcome.action, outcome.digest, outcome.warnings) == ("started", plan.config.digest, ())
    assert (host / "haproxy.cfg").read_bytes() == plan.config.data
    assert (host / "server-state").read_text() == "1\n"
    assert not (host / "haproxy.cfg.iacorch-new").exists() and not (host / "haproxy.cfg.previous").exists()
    assert calls(host) == ["is-active --quiet haproxy", "enable --quiet haproxy", "restart haproxy"]
    assert result.command.startswith("sh -c") and len(plan.script.steps) == 3  # one round trip


def test_the_same_bytes_on_a_running_host_change_nothing(host):
    plan = deployment(host, SAME)
    (host / "haproxy.cfg").write_bytes(plan.config.data)
    (host / "active").touch()
    assert plan.parse(run(host, plan)).action == "unchanged"
    assert calls(host) == ["is-active --quiet haproxy"]
    assert not (host / "server-state").exists() and not (host / "haproxy.cfg.iacorch-new").exists()


def test_a_new_config_keeps_the_state_of_servers_whose_address_stays(host):
    (host / "haproxy.cfg").write_text("# the old config\n")
    (host / "active").touch()
    moved = [("web-1", "192.168.64.3", 8081), ("web-2", "192.168.64.3", 9999), ("web-3", "192.168.64.4", 8083),
             ("web-4", "192.168.64.3", 8099), ("web-6", "192.168.64.3", 8086)]
    plan = deployment(host, moved)
    assert plan.parse(run(host, plan)).action == "reloaded"
    assert calls(host) == ["is-active --quiet haproxy", "reload haproxy"]
    assert (host / "haproxy.cfg").read_bytes() == plan.config.data
    assert (host / "haproxy.cfg.previous").read_text() == "# the old config\n"
    kept = (host / "server-state").read_text().splitlines()
    assert kept[0] == "1" and kept[1].startswith("# be_id be_name")
    assert [line.split()[3] for line in kept[2:]] == ["web-1", "web-4"]  # web-2, web-3 moved; web-5, pg-1 gone
    assert not (host / "server-state.dump").exists() and not (host / "server-state.new").exists()


def test_a_rejected_config_is_never_installed(host):
    (host / "haproxy.cfg").write_text("# the old config\n")
    (host / "active").touch()
    plan = deployment(host, SAME, options=["option frobnicate"])
    with pytest.raises(HaproxyConfigRejected) as rejected:
        plan.parse(run(host, plan))
    line = plan.config.lines.index("    option frobnicate") + 1
    assert f"[ALERT] parsing [line {line}] : unknown option 'frobnicate'." in str(rejected.value)
    assert f"line {line}, in backend public.web: option frobnicate" in str(rejected.value)
    assert str(rejected.value).startswith("group.edge[0]: HAProxy rejected the new config")
    assert (host / "haproxy.cfg").read_text() == "# the old config\n"
    assert not (host / "haproxy.cfg.iacorch-new").exists() and calls(host) == []


def test_a_reload_that_never_brings_a_new_process_fails_loudly(host):
    (host / "haproxy.cfg").write_text("# the old config\n")
    (host / "active").touch()
    (host / "stuck").touch()
    plan = deployment(host, SAME, reload_wait=0.3)
    with pytest.raises(CommandFailed) as failed:
        plan.parse(run(host, plan))
    text = str(failed.value)
    assert text.startswith("group.edge[0]: command failed with exit status 1: install ")
    assert "no new process answered" in text and "haproxy.cfg.previous" in text


def test_install_is_one_round_trip_that_reports_the_version():
    script = install_haproxy()
    assert [step.argv[0] for step in script.steps] == ["sh", "systemctl", "dpkg-query"]
    assert script.steps[0].argv[-2:] == ("haproxy", "socat")
    stdout = (b"already installed: haproxy socat\n@@iacorch-step %s 0 0@@\n\n@@iacorch-step %s 1 0@@\n"
              b"2.6.12-1+deb12u4\n@@iacorch-step %s 2 0@@\n" % ((script.token.encode(),) * 3))
    stderr = b"".join(b"\n@@iacorch-step %s %d 0@@\n" % (script.token.encode(), i) for i in range(3))
    outcome = parse_install(script.parse(stdout, stderr, 0), "lb")
    assert outcome.version == "2.6.12-1+deb12u4" and not outcome.installed_now
