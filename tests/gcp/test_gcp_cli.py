"""The command line on the VM side of stacks/gcp-web.yaml with IACORCH_GCP_ENDPOINT pointing at the local GCE API."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from gcp_engine import REFERENCE, REGION, ROOT

pytestmark = pytest.mark.usefixtures("gcp")


@pytest.fixture
def stack(tmp_path) -> str:
    """The VM side of stacks/gcp-web.yaml (its service needs real hosts: tests/e2e/test_gcp_hosts.py)."""
    path = tmp_path / "gcp-web.yaml"
    path.write_text(REFERENCE)
    return str(path)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "iacorch.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env=os.environ.copy(), timeout=120, check=False)


def test_plan_exits_2_with_changes_then_0_after_apply(stack):
    first = run("plan", stack, "--detailed-exitcode")
    assert first.returncode == 2, first.stderr
    assert "Plan: 12 to add, 0 to change, 0 to replace, 0 to destroy." in first.stdout
    applied = run("apply", stack, "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    second = run("plan", stack, "--detailed-exitcode")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "No changes" in second.stdout


def test_an_api_failure_is_one_clear_error_without_a_traceback(gcp, stack):
    gcp.set_quota("INSTANCES", 0, region=REGION)
    result = run("apply", stack, "--auto-approve")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "google.api_core" not in result.stderr
    assert "error: 4 step(s) failed" in result.stderr
    assert "group.edge[0]: quota exceeded: Quota 'INSTANCES' exceeded." in result.stderr
