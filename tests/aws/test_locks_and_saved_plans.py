"""Locks on AWS (DynamoDB, S3) and saved plans against a moto server."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import threading
import time

import boto3
import pytest
from tests_aws_helpers import REFERENCE, ROOT, converge, engine_for, load

from iacorch.errors import LockError, PlanStaleError
from iacorch.lock import StackLock

pytestmark = pytest.mark.usefixtures("aws")


@pytest.mark.parametrize("lock_setting", ["", "    lock: {s3: locks}\n"])
def test_aws_lock_backends_exclude_and_name_the_holder(lock_setting):
    if lock_setting:
        boto3.client("s3").create_bucket(Bucket="locks")
    sf = load(REFERENCE.replace("    region: us-east-1\n", "    region: us-east-1\n" + lock_setting))
    backend = engine_for(sf).provider.lock_backend()
    with StackLock(backend, "aws-web", "apply"):
        with pytest.raises(LockError, match=r"locked by .* \(apply\)"):
            with StackLock(engine_for(sf).provider.lock_backend(), "aws-web", "apply"):
                pass
    with StackLock(backend, "aws-web", "destroy"):
        pass
    assert backend.read() is None


def test_expired_s3_lock_is_taken_over():
    boto3.client("s3").create_bucket(Bucket="locks")
    sf = load(REFERENCE.replace("    region: us-east-1\n", "    region: us-east-1\n    lock: {s3: locks}\n"))
    backend = engine_for(sf).provider.lock_backend()
    dead = StackLock(backend, "aws-web", "apply", ttl=0.3)
    dead.__enter__()
    dead._stop.set()
    threading.Event().wait(0.5)
    with StackLock(backend, "aws-web", "apply") as mine:
        assert backend.read().token == mine.record.token


def _cli(*args, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "iacorch.cli", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)


def test_two_applies_at_once_one_runs_the_other_names_the_holder(tmp_path):
    stack = tmp_path / "web.yaml"
    stack.write_text(REFERENCE)
    sf = load(REFERENCE)
    backend = engine_for(sf).provider.lock_backend()
    with StackLock(backend, "aws-web", "apply"):
        blocked = _cli("apply", str(stack), "--auto-approve")
    assert blocked.returncode == 1
    assert "is locked by" in blocked.stderr and "(apply)" in blocked.stderr
    assert "Traceback" not in blocked.stderr
    runs = _cli("apply", str(stack), "--auto-approve")
    assert runs.returncode == 0, runs.stderr


def test_two_cli_applies_at_once_one_runs_and_the_other_names_it(tmp_path):
    """The first apply holds the lock while it asks for confirmation on its terminal."""
    stack = tmp_path / "web.yaml"
    stack.write_text(REFERENCE)
    master, slave = pty.openpty()
    first = subprocess.Popen([sys.executable, "-m", "iacorch.cli", "apply", str(stack)],
                             stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, close_fds=True)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 120
    while b"Only 'yes' will be accepted" not in seen:
        assert time.monotonic() < deadline and first.poll() is None, seen.decode(errors="replace")
        ready, _, _ = select.select([master], [], [], 1)
        if ready:
            seen += os.read(master, 65536)
    second = _cli("apply", str(stack), "--auto-approve")
    assert second.returncode == 1
    assert f"pid {first.pid} (apply)" in second.stderr, second.stderr
    assert "Traceback" not in second.stderr
    os.write(master, b"yes\n")
    while first.poll() is None:
        ready, _, _ = select.select([master], [], [], 1)
        if ready:
            try:
                seen += os.read(master, 65536)
            except OSError:
                break
    assert first.wait(timeout=120) == 0, seen.decode(errors="replace")
    os.close(master)
    assert "Apply complete" in seen.decode(errors="replace")


def test_saved_plan_applies_exactly_and_refuses_when_the_world_changed(tmp_path):
    stack = tmp_path / "web.yaml"
    stack.write_text(REFERENCE)
    plan_file = tmp_path / "plan.json"
    made = _cli("plan", str(stack), "-o", str(plan_file))
    assert made.returncode == 0, made.stderr
    saved = json.loads(plan_file.read_text())
    assert saved["summary"]["add"] == 15
    # someone else changes the world: a stack resource appears
    converge(load(REFERENCE.replace("desired: 3", "desired: 2")))
    stale = _cli("apply", str(plan_file))
    assert stale.returncode == 1
    assert "stale" in stale.stderr and "Traceback" not in stale.stderr
    # a fresh saved plan applies exactly that plan, with no prompt
    made = _cli("plan", str(stack), "-o", str(plan_file))
    applied = _cli("apply", str(plan_file))
    assert applied.returncode == 0, applied.stderr
    assert "1 added" in applied.stdout
    again = _cli("plan", str(stack), "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr


def test_engine_level_staleness_check():
    sf = load(REFERENCE)
    engine = engine_for(sf)
    observed = engine.observe()
    plan = engine.plan(observed)
    converge(sf)
    with pytest.raises(PlanStaleError):
        engine.check_fresh(plan, engine.observe())
