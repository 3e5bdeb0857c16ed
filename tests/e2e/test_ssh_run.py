"""Running commands and scripts on real VMs over one pooled connection per host."""

from __future__ import annotations

import hashlib
import io
import random
import subprocess
import threading
import time
import tracemalloc

import pytest

from iacorch.command import Command, Script
from iacorch.ssh import CommandFailed

pytestmark = pytest.mark.e2e


def test_batched_script_gives_per_step_results(testbed_vms, ssh_pool):
    vm = testbed_vms[0]
    script = Script.of(Command.of("hostname"), Command.of("cat", "/etc/debian_version"),
                       Command.shell("echo to-stderr >&2; exit 3"), Command.of("touch", "/tmp/never"))
    result = ssh_pool.run(vm.address, script, check=False)
    assert result[0].stdout.strip() == vm.name
    assert result[1].stdout.startswith("12.")
    assert (result[2].exit_status, result[2].stderr) == (3, "to-stderr\n")
    assert not result[3].ran
    assert result.exit_status == 3 and result.failed is result[2]
    assert ssh_pool.run(vm.address, Command.of("test", "-e", "/tmp/never"), check=False).exit_status == 1


def test_run_all_mode_and_failure_message(testbed_vms, ssh_pool):
    vm = testbed_vms[0]
    script = Script.of(Command.of("false"), Command.of("echo", "ran anyway"), stop_on_failure=False)
    result = ssh_pool.run(vm.address, script, check=False)
    assert [step.exit_status for step in result.steps] == [1, 0]
    assert result[1].stdout == "ran anyway\n"
    with pytest.raises(CommandFailed) as failure:
        ssh_pool.run(vm.address, Command.shell("echo out-line; echo err-line >&2; exit 7"))
    text = str(failure.value)
    assert failure.value.exit_status == 7 and failure.value.where == vm.address.name
    assert "exit status 7" in text and "sh -c" in text and "out-line" in text and "err-line" in text


def test_per_exec_cost_vs_one_batched_script(testbed_vms, ssh_pool, vm_testbed):
    vm = testbed_vms[0]
    ssh_pool.run(vm.address, Command.of("true"))  # connected
    count = 30
    started = time.monotonic()
    for _ in range(count):
        ssh_pool.run(vm.address, Command.of("true"))
    one_by_one = (time.monotonic() - started) / count
    started = time.monotonic()
    result = ssh_pool.run(vm.address, Script(tuple(Command.of("true") for _ in range(count))))
    batched = time.monotonic() - started
    vm_testbed.record("exec on one connection, per command (s)", one_by_one)
    vm_testbed.record(f"one Script of {count} commands, total (s)", batched)
    assert len(result.steps) == count and result.ok
    assert batched < one_by_one * count / 3


def test_channels_run_concurrently_on_one_connection(testbed_vms, ssh_pool):
    vm = testbed_vms[1]
    results, errors = [], []

    def sleeper(index: int) -> None:
        try:
            results.append(ssh_pool.run(vm.address, Command.shell(f"sleep 1; echo {index}")).stdout.strip())
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=sleeper, args=(index,)) for index in range(12)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(results, key=int) == [str(index) for index in range(12)]
    assert time.monotonic() - started < 5  # 8 channels at a time (max_channels), not 12 s in a row
    sessions = ssh_pool.run(vm.address, Command.shell("ps -eo args | grep -c '^sshd: root@notty'"), check=False)
    assert sessions.stdout.strip() in ("1", "2")  # one connection (sshd's per-connection process)


def test_upload_sets_content_and_mode(testbed_vms, ssh_pool):
    vm = testbed_vms[0]
    ssh_pool.upload(vm.address, b"line 1\nline 2\n", "/etc/iacorch-test/app.conf", mode=0o640)
    result = ssh_pool.run(vm.address, Command.shell("stat -c %a /etc/iacorch-test/app.conf; "
                                                    "cat /etc/iacorch-test/app.conf"))
    assert result.stdout == "640\nline 1\nline 2\n"


class _Generated(io.RawIOBase):
    """``size`` pseudo-random bytes produced on demand, never held in memory at once."""

    def __init__(self, size: int) -> None:
        self.remaining, self.random, self.digest = size, random.Random(size), hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self.random.randbytes(min(self.remaining, 1 << 20 if size < 0 else size))
        self.remaining -= len(chunk)
        self.digest.update(chunk)
        return chunk


def test_stream_a_large_file_like_into_a_remote_command(testbed_vms, ssh_pool, vm_testbed):
    vm = testbed_vms[1]
    source = _Generated(48 * 1024 * 1024)
    tracemalloc.start()
    started = time.monotonic()
    result = ssh_pool.stream(vm.address, Command.of("sha256sum"), source)
    seconds = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    vm_testbed.record("stream 48 MiB into sha256sum (s)", seconds)
    assert result.stdout.split()[0] == source.digest.hexdigest()
    assert peak < 16 * 1024 * 1024  # streamed in chunks, not buffered whole


def test_stream_a_subprocess_stdout(testbed_vms, ssh_pool):
    vm = testbed_vms[1]
    producer = subprocess.Popen(["tar", "-C", "/etc", "-c", "hostname", "os-release"], stdout=subprocess.PIPE)
    result = ssh_pool.stream(vm.address, Command.of("tar", "-t"), producer.stdout)
    producer.wait(timeout=10)
    assert sorted(result.stdout.split()) == ["hostname", "os-release"]


def test_command_killed_by_a_signal_is_a_failure_not_a_lost_connection(testbed_vms, ssh_pool):
    vm = testbed_vms[0]
    with pytest.raises(CommandFailed, match="killed by a signal"):
        ssh_pool.run(vm.address, Command.shell("kill -KILL $$"))
    assert ssh_pool.run(vm.address, Command.of("true")).ok


def test_command_timeout_is_a_clear_error(testbed_vms, ssh_pool):
    vm = testbed_vms[0]
    started = time.monotonic()
    with pytest.raises(Exception) as failure:
        ssh_pool.run(vm.address, Command.of("sleep", "30"), timeout=1.5)
    assert time.monotonic() - started < 5
    assert "timed out after" in str(failure.value) and "sleep 30" in str(failure.value)
    assert failure.value.where == vm.address.name
    assert ssh_pool.run(vm.address, Command.of("echo", "still usable")).stdout == "still usable\n"
