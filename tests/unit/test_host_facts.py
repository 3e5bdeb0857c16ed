"""Host fact parsers, on output recorded from a real VM (tests/unit/recorded)."""

from __future__ import annotations

import pytest

import json
import pathlib

from iacorch.command import Script
from iacorch.hosts.facts import (
    host_facts_script, parse_capacity, parse_containers, parse_host_facts, parse_images, parse_version,
)

RECORDED = pathlib.Path(__file__).parent / "recorded"


def test_containers_from_docker_inspect():
    containers = parse_containers((RECORDED / "docker_inspect_demo.json").read_text())
    by_name = {c.name: c for c in containers}
    assert set(by_name) == {"demo-web-0", "demo-web-3"}
    running, stopped = by_name["demo-web-0"], by_name["demo-web-3"]
    assert (running.service, running.replica, running.state, running.health) == ("web", 0, "running", "healthy")
    assert stopped.state == "exited" and stopped.exit_code != 0
    assert running.release == running.spec["release"] and len(running.release) == 12
    assert running.address == "service.web[0]"
    assert running.env == {"VERSION": "v1", "FAIL_HEALTH": ""}  # only the keys we manage
    assert running.memory == 64 * 1024 * 1024 and running.cpus is None
    assert isinstance(running.host_port, int) and running.host_port > 1024
    assert running.image.startswith("iacorch/demo-web:")


def test_containers_not_ours_are_skipped():
    items = json.loads((RECORDED / "docker_inspect_demo.json").read_text())
    for item in items:
        item["Config"]["Labels"] = {"something": "else"}
    assert parse_containers(json.dumps(items)) == []
    assert parse_containers("") == []


def test_version_images_capacity():
    assert parse_version((RECORDED / "docker_version.txt").read_text()) == "20.10.24+dfsg1"
    images = parse_images((RECORDED / "docker_images.txt").read_text() + "<none>:<none> sha256:x\n")
    assert list(images) == ["iacorch/demo-web:d4adf38f39da"]
    assert parse_capacity((RECORDED / "capacity.txt").read_text()) == {"cpus": 2, "memory": 25276502016}
    assert parse_capacity("2\n2.52765e+10\n") == {}  # never a wrong number from a float


def test_one_script_reads_everything_and_splits_back():
    script = host_facts_script("demo")
    assert isinstance(script, Script) and len(script.steps) == 5 and not script.stop_on_failure
    outputs = [(RECORDED / "docker_version.txt").read_text(), (RECORDED / "docker_images.txt").read_text(),
               (RECORDED / "docker_inspect_demo.json").read_text(), (RECORDED / "capacity.txt").read_text(), "systemd:running"]
    stdout = b"".join(f"{out}\n@@iacorch-step {script.token} {i} 0@@\n".encode() for i, out in enumerate(outputs))
    stderr = b"".join(f"\n@@iacorch-step {script.token} {i} 0@@\n".encode() for i in range(5))
    facts = parse_host_facts(script.parse(stdout, stderr, 0))
    assert facts.reachable and facts.docker == "20.10.24+dfsg1"
    assert len(facts.containers) == 2 and facts.capacity["cpus"] == 2


@pytest.mark.parametrize("state, reachable, error", [
    ("systemd:running", True, None), ("systemd:degraded", True, None),
    ("", True, None),  # no systemd on this host: nothing to wait for
    ("systemd:stopping", False, "shutting down (systemd is stopping)"),
    ("systemd:starting", False, "still booting (systemd is starting)"),
    # late in a shutdown PID 1 no longer answers while sshd still runs a session
    ("systemd:", False, "shutting down (systemd is not answering)"),
    ("systemd:offline", False, "shutting down (systemd is offline)"),
    ("systemd:unknown", False, "shutting down or broken (systemd is unknown)"),
])
def test_a_host_shutting_down_or_booting_is_not_a_host_without_docker(state, reachable, error):
    script = host_facts_script("demo")
    stdout = b"".join(f"\n@@iacorch-step {script.token} {i} {127 if i < 3 else 0}@@\n".encode() for i in range(4))
    stdout += f"{state}\n@@iacorch-step {script.token} 4 0@@\n".encode()
    facts = parse_host_facts(script.parse(stdout, b"", 0))
    assert (facts.reachable, facts.error) == (reachable, error)


def test_a_host_without_docker():
    script = host_facts_script("demo")
    stdout = b"".join(f"\n@@iacorch-step {script.token} {i} {127 if i < 3 else 0}@@\n".encode() for i in range(3))
    stdout += f"4\n1000\n@@iacorch-step {script.token} 3 0@@\n".encode()
    facts = parse_host_facts(script.parse(stdout, b"", 0))
    assert facts.docker is None and facts.containers == () and facts.capacity == {"cpus": 4, "memory": 1000}
