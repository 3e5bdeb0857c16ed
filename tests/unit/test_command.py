"""Commands, scripts and secrets as data; scripts are also run through a local /bin/sh."""

from __future__ import annotations

import copy
import os
import pickle
import shlex
import stat
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iacorch.command import (
    Command,
    CommandFailed,
    CommandResult,
    Script,
    Secret,
    mask_text,
    write_file,
    write_secret_file,
)
from iacorch.errors import HostError

HOSTILE = ["it's", 'say "hi"', "$(touch /tmp/pwned)", "`id`", "a;b", "a && b", "new\nline",
           "*", "-rf", "", " ", "\\", "tab\there", "$HOME", "!"]


def sh(program: str, *, stdin: bytes | None = None, shell: str = "sh") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([shell, "-c", program], input=stdin, capture_output=True, check=False, timeout=30)


# ------------------------------------------------------------------ secrets

def test_secret_never_shows_its_value():
    secret = Secret("hunter2", name="DB_PASSWORD")
    percent = "%s" % secret  # noqa: UP031 - the old formatting path must mask too
    for shown in (str(secret), repr(secret), f"{secret}", f"{secret:>20}", percent, str([secret])):
        assert "hunter2" not in shown
    assert str(secret) == "<secret DB_PASSWORD>"
    assert str(Secret("x")) == "***"
    assert secret.reveal() == "hunter2"
    assert Secret(b"\x00raw").reveal_bytes() == b"\x00raw"


def test_secret_refuses_pickling_and_copies_as_itself():
    secret = Secret("hunter2", name="S")
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    assert copy.deepcopy(secret) is secret


# ------------------------------------------------------------------ commands

def test_render_and_masked():
    command = Command.of("docker", "login", "-p", Secret("hunter2", "TOKEN"), "registry.local")
    assert command.argv[0] == "docker"
    assert command.render() == "docker login -p hunter2 registry.local"
    assert command.masked() == "docker login -p '<secret TOKEN>' registry.local"
    assert "hunter2" not in str(command) and "hunter2" not in repr(command)
    assert command.has_secret_argv


def test_masked_shows_stdin_without_its_value():
    secret = Secret("hunter2", "TOKEN")
    assert Command.of("cat", stdin=secret).masked() == "cat < <secret TOKEN>"
    assert Command.of("cat", stdin=b"12345").masked() == "cat < (5 bytes)"
    assert not Command.of("cat", stdin=secret).has_secret_argv
    assert Command.of("cat", stdin=secret).stdin_bytes() == b"hunter2"


def test_command_rejects_bad_arguments():
    with pytest.raises(ValueError):
        Command(())
    with pytest.raises(TypeError):
        Command(("echo", 3))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Command(("cat",), stdin="text")  # type: ignore[arg-type]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_arguments_reach_the_program_verbatim(hostile):
    command = Command.of("printf", "%s", hostile)
    assert shlex.split(command.render()) == ["printf", "%s", hostile]
    done = sh(command.render())
    assert done.returncode == 0
    assert done.stdout.decode() == hostile
    assert not os.path.exists("/tmp/pwned")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                        max_size=20), min_size=1, max_size=5))
def test_render_round_trips_any_text(argv):
    assert shlex.split(Command(tuple(argv)).render()) == argv


def test_shell_command_wraps_a_program():
    assert Command.shell("echo a | wc -c").argv == ("sh", "-c", "echo a | wc -c")


# ------------------------------------------------------------------ files and secrets as stdin

def test_write_secret_file_keeps_the_value_off_the_command_line(tmp_path):
    secret = Secret("s3cr3t-value", "API_KEY")
    command = write_secret_file(secret, path="/dev/shm/iacorch-test/API_KEY")
    assert "s3cr3t-value" not in command.render()
    assert "s3cr3t-value" not in command.masked()
    assert command.stdin is secret


def test_write_secret_file_default_path_and_name_rules():
    assert write_secret_file(Secret("v", "DB_PASSWORD")).argv[-1] == "/run/iacorch/secrets/DB_PASSWORD"
    with pytest.raises(ValueError):
        write_secret_file(Secret("v"))
    with pytest.raises(ValueError):
        write_secret_file(Secret("v", "../etc/passwd"))


def test_write_secret_file_runs_on_a_tmpfs_with_mode_0600():
    if not os.path.isdir("/dev/shm"):
        pytest.fail("/dev/shm (a tmpfs) is needed for this test")
    path = f"/dev/shm/iacorch-test-{os.getpid()}/API_KEY"
    command = write_secret_file(Secret("s3cr3t-value", "API_KEY"), path=path)
    done = subprocess.run(["sh", "-c", *command.argv[2:]], input=command.stdin_bytes(), capture_output=True, check=False)
    try:
        assert done.returncode == 0, done.stderr
        assert Path(path).read_text() == "s3cr3t-value"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    finally:
        subprocess.run(["rm", "-rf", os.path.dirname(path)], check=True)


def test_write_secret_file_refuses_a_disk(tmp_path):
    command = write_secret_file(Secret("v", "K"), path=str(tmp_path / "K"))
    done = subprocess.run(["sh", "-c", *command.argv[2:]], input=b"v", capture_output=True, check=False)
    assert done.returncode == 3
    assert b"not a tmpfs" in done.stderr
    assert not (tmp_path / "K").exists()


def test_write_file_sets_mode(tmp_path):
    path = tmp_path / "sub" / "file.txt"
    command = write_file(str(path), b"hello\n", mode=0o640)
    done = subprocess.run(["sh", "-c", *command.argv[2:]], input=command.stdin_bytes(), capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    assert path.read_bytes() == b"hello\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert command.masked().endswith("< (6 bytes)")


def test_mask_text():
    secrets = [Secret("hunter2", "A"), Secret(b"xyzzy"), Secret("")]
    assert mask_text("pw=hunter2 and xyzzy", secrets) == "pw=<secret A> and ***"


# ------------------------------------------------------------------ scripts

def test_script_rejects_stdin_steps_and_bad_tokens():
    with pytest.raises(ValueError):
        Script.of(Command.of("cat", stdin=b"x"))
    with pytest.raises(ValueError):
        Script(())
    with pytest.raises(ValueError):
        Script((Command.of("true"),), token="not hex!")


def test_script_masked_hides_secrets_and_render_has_them():
    script = Script.of(Command.of("echo", Secret("hunter2", "P")), Command.of("true"))
    assert "hunter2" not in script.masked() and "<secret P>" in script.masked()
    assert "hunter2" in script.render()
    assert script.summary() == "echo '<secret P>'; true"
    assert script.has_secret_argv


def test_parse_recorded_output():
    script = Script((Command.of("echo", "a"), Command.of("false"), Command.of("echo", "c")), token="abc123")
    stdout = b"a\n\n@@iacorch-step abc123 0 0@@\n\n@@iacorch-step abc123 1 1@@\n"
    stderr = b"\n@@iacorch-step abc123 0 0@@\noops\n@@iacorch-step abc123 1 1@@\n"
    result = script.parse(stdout, stderr, 1)
    assert [step.exit_status for step in result.steps] == [0, 1, None]
    assert result[0].stdout == "a\n" and result[0].stderr == ""
    assert result[1].stderr == "oops" and result[1].stdout == ""
    assert not result[2].ran
    assert result.failed is result[1]
    assert not result.ok


def test_parse_ignores_markers_with_a_foreign_token():
    script = Script((Command.of("cat", "x"),), token="aaaa")
    stdout = b"\n@@iacorch-step bbbb 0 7@@\n\n@@iacorch-step aaaa 0 0@@\n"
    result = script.parse(stdout, b"\n@@iacorch-step aaaa 0 0@@\n", 0)
    assert result[0].stdout == "\n@@iacorch-step bbbb 0 7@@\n"
    assert result.ok


def test_parse_interrupted_script_leaves_the_rest():
    script = Script((Command.of("a"), Command.of("b")), token="ff")
    result = script.parse(b"one\n@@iacorch-step ff 0 0@@\npartial", b"", -1)
    assert result[0].stdout == "one" and result[1].exit_status is None
    assert result.leftover_stdout == "partial"
    assert result.failed is result[1]


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_script_stops_at_first_failure(shell):
    script = Script.of(Command.of("printf", "%s", "first"), Command.shell("echo err >&2; exit 4"),
                       Command.of("touch", "/nonexistent/never-run"))
    done = sh(script.render(), shell=shell)
    result = script.parse(done.stdout, done.stderr, done.returncode)
    assert done.returncode == 4
    assert [step.exit_status for step in result.steps] == [0, 4, None]
    assert result[0].stdout == "first"
    assert result[1].stderr == "err\n"
    assert result.exit_status == 4 and result.failed is result[1]


def test_script_runs_all_steps_when_asked():
    script = Script.of(Command.of("false"), Command.of("echo", "still"), Command.shell("exit 9"),
                       stop_on_failure=False)
    done = sh(script.render())
    result = script.parse(done.stdout, done.stderr, done.returncode)
    assert [step.exit_status for step in result.steps] == [1, 0, 9]
    assert result[1].stdout == "still\n"
    assert done.returncode == 1  # the first failure's status


def test_script_steps_do_not_read_the_callers_stdin():
    script = Script.of(Command.of("cat"), Command.of("echo", "after"))
    done = sh(script.render(), stdin=b"must not be eaten")
    result = script.parse(done.stdout, done.stderr, done.returncode)
    assert result[0].stdout == "" and result[1].stdout == "after\n"


@pytest.mark.parametrize("hostile", HOSTILE)
def test_script_output_with_hostile_text_splits_cleanly(hostile):
    script = Script.of(Command.of("printf", "%s", hostile), Command.of("printf", "%s\n", hostile))
    done = sh(script.render())
    result = script.parse(done.stdout, done.stderr, done.returncode)
    assert result.ok
    assert result[0].stdout == hostile
    assert result[1].stdout == hostile + "\n"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=40).filter(lambda b: b"\x00" not in b), min_size=1, max_size=4),
       st.booleans())
def test_script_output_round_trips_any_bytes(outputs, stop):
    steps = tuple(Command.of("printf", "".join(f"\\{byte:03o}" for byte in out)) for out in outputs)
    script = Script(steps, stop_on_failure=stop)
    done = sh(script.render())
    result = script.parse(done.stdout, done.stderr, done.returncode)
    assert [step.stdout for step in result.steps] == [out.decode(errors="replace") for out in outputs]
    assert result.ok


# ------------------------------------------------------------------ results and failures

def test_command_result_check_raises_a_host_error_with_the_output_tail():
    stdout = "".join(f"line {n}\n" for n in range(1, 31))
    result = CommandResult("group.app[1]", "docker pull x", 1, stdout, "denied\n", 0.1)
    with pytest.raises(CommandFailed) as failure:
        result.check()
    text = str(failure.value)
    assert isinstance(failure.value, HostError)
    assert text.startswith("group.app[1]: command failed with exit status 1: docker pull x")
    assert "stdout (last 20 lines):" in text and "    line 30" in text and "line 10\n" not in text
    assert "  stderr:\n    denied" in text
    assert failure.value.exit_status == 1 and failure.value.stdout == stdout
    ok = CommandResult("h", "true", 0, "", "", 0.0)
    assert ok.check() is ok


def test_script_result_check_names_the_failed_or_unfinished_step():
    script = Script((Command.of("a"), Command.of("b")), token="ee")
    unfinished = script.parse(b"\n@@iacorch-step ee 0 0@@\npartial", b"", -1)
    with pytest.raises(CommandFailed, match=r"^h1: command did not finish: b"):
        unfinished.check("h1")
    done = script.parse(b"\n@@iacorch-step ee 0 0@@\n\n@@iacorch-step ee 1 0@@\n", b"", 0)
    assert done.check("h1") is done


def test_non_root_logins_run_host_actions_through_sudo():
    from iacorch.ssh import HostAddress, as_root

    script = Script.of(Command.of("docker", "ps"), Command.of("echo", "it's"))
    assert as_root(HostAddress("h", "10.0.0.1"), script.render()) == script.render()
    wrapped = as_root(HostAddress("h", "10.0.0.1", user="admin"), script.render())
    assert wrapped.startswith("sudo -n -- sh -c ")
    assert shlex.split(wrapped)[-1] == script.render()
