"""The command line as CI uses it: exit codes, JSON, and one clear error with no traceback."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
# the VM side of the reference stack (its services need real hosts: tests/e2e)
REFERENCE = (ROOT / "stacks" / "aws-web.yaml").read_text().split("\nservices:")[0] + "\n"


def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "iacorch.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=os.environ.copy(), timeout=300)


@pytest.fixture
def stack(tmp_path):
    path = tmp_path / "web.yaml"
    path.write_text(REFERENCE)
    return path


@pytest.mark.parametrize("edit, expect", [
    (("edge: {template", "edge: {template: ["), "malformed YAML"),
    (("size: 1}", "size: three}"), "expected a number of instances"),
    (("size: 1}", "sise: 1}"), "unknown key 'sise'"),
    (("from_group: edge", "from_group: edgy"), "security group 'edgy' is not defined"),
    (("10.20.2.0/24", "10.20.2.0/33"), "is not a valid CIDR"),
    (("10.20.2.0/24", "10.20.1.0/25"), "overlaps subnet 'public-a'"),
    (('"{{ ami }}"', '"{{ amy }}"'), "undefined variable 'amy'"),
])
@pytest.mark.parametrize("command", ["validate", "plan"])
def test_bad_stacks_give_one_clear_error_with_file_line_and_exit_1(tmp_path, edit, expect, command):
    path = tmp_path / "web.yaml"
    path.write_text(REFERENCE.replace(*edit, 1))
    result = run(command, str(path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: {path}:"), result.stderr
    assert expect in result.stderr


def test_validate_ok(stack):
    result = run("validate", str(stack))
    assert result.returncode == 0
    assert "valid stack 'aws-web' (aws): 2 group(s)" in result.stdout


def test_missing_stack_file():
    result = run("plan", "no/such.yaml")
    assert result.returncode == 1 and "no/such.yaml: no such stack file" in result.stderr


def test_bad_var_flag(stack):
    result = run("validate", str(stack), "--var", "oops")
    assert result.returncode == 1 and "expected NAME=VALUE" in result.stderr


@pytest.mark.usefixtures("aws")
def test_detailed_exitcode_json_and_apply(stack):
    result = run("plan", str(stack), "--detailed-exitcode", "--json")
    assert result.returncode == 2, result.stderr
    data = json.loads(result.stdout)
    assert data["summary"] == {"add": 15, "change": 0, "replace": 0, "destroy": 0}
    assert {c["action"] for c in data["changes"]} == {"create"}
    assert all({"address", "before", "after", "fields", "reason", "depends_on"} <= c.keys()
               for c in data["changes"])

    text = run("plan", str(stack))
    assert "Plan: 15 to add, 0 to change, 0 to replace, 0 to destroy." in text.stdout
    assert "\x1b[" not in text.stdout  # not a TTY: no color

    applied = run("apply", str(stack), "--auto-approve", "--parallelism", "3")
    assert applied.returncode == 0, applied.stderr
    assert "Apply complete" in applied.stdout

    again = run("plan", str(stack), "--detailed-exitcode")
    assert again.returncode == 0 and "No changes." in again.stdout

    status = run("status", str(stack), "--json")
    hosts = json.loads(status.stdout)["hosts"]
    assert sorted(h["name"] for h in hosts) == ["group.app[0]", "group.app[1]", "group.app[2]", "group.edge[0]"]

    destroyed = run("destroy", str(stack), "--auto-approve")
    assert destroyed.returncode == 0, destroyed.stderr
    assert "15 destroyed" in destroyed.stdout


@pytest.mark.usefixtures("aws")
def test_apply_without_a_terminal_needs_auto_approve(stack):
    result = run("apply", str(stack))
    assert result.returncode == 1
    assert "--auto-approve" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.usefixtures("aws")
def test_graph_dot_and_svg(stack):
    dot = run("graph", str(stack))
    assert dot.returncode == 0
    assert dot.stdout.startswith('digraph "aws-web"')
    assert '"vpc.main" -> "subnet.public-a";' in dot.stdout
    svg = run("graph", str(stack), "--format", "svg")
    assert svg.returncode == 0, svg.stderr
    assert "<svg" in svg.stdout


@pytest.mark.usefixtures("aws")
def test_unlock(stack):
    result = run("unlock", str(stack))
    assert result.returncode == 0 and "was not locked" in result.stdout


def test_schema_is_json_schema_of_the_format():
    result = run("schema")
    schema = json.loads(result.stdout)
    assert schema["title"] == "iacorch stack"
    assert {"stack", "provider", "groups", "services", "load_balancers"} <= schema["properties"].keys()
    assert schema["additionalProperties"] is False


def test_unreachable_endpoint_is_one_clear_error(stack, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    result = run("plan", str(stack))
    assert result.returncode == 1
    assert "cannot reach the AWS endpoint" in result.stderr and "Traceback" not in result.stderr
