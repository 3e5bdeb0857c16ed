"""Secrets reach a host as 0600 files on a tmpfs, and their values show nowhere else."""

from __future__ import annotations

import io
import logging
import subprocess
import threading
import time

import pytest

from iacorch.command import Command, Secret, write_secret_file
from iacorch.errors import HostError

pytestmark = pytest.mark.e2e

VALUE = "pw-7f3c9a-" + "correct horse battery staple"


class SlowSecretSource(io.RawIOBase):
    """Hands out the secret in two halves with a pause, so the writer is alive while we look at ps."""

    def __init__(self, value: bytes, pause: float) -> None:
        self.parts, self.pause = [value[:8], value[8:]], pause

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if not self.parts:
            return b""
        if len(self.parts) == 1:
            time.sleep(self.pause)
        return self.parts.pop(0)


def test_secret_file_is_0600_on_tmpfs(testbed_vms, ssh_pool):
    vm = testbed_vms[0]
    path = ssh_pool.put_secret(vm.address, Secret(VALUE, "DB_PASSWORD"))
    assert path == "/run/iacorch/secrets/DB_PASSWORD"
    result = ssh_pool.run(vm.address, Command.shell(
        f"stat -c '%a %U' {path}; stat -f -c %T {path}; stat -c %a /run/iacorch/secrets; cat {path}"))
    mode, filesystem, directory_mode, content = result.stdout.splitlines()
    assert (mode, filesystem, directory_mode) == ("600 root", "tmpfs", "700")
    assert content == VALUE and result.stdout.endswith(VALUE)  # written exactly, no newline added


def test_secret_value_never_in_ps_logs_or_errors(testbed_vms, ssh_pool, caplog):
    vm = testbed_vms[0]
    secret = Secret(VALUE, "API_TOKEN")
    command = write_secret_file(secret, "/run/iacorch/secrets/API_TOKEN")
    seen: dict[str, str] = {}

    def watch() -> None:  # while the writer waits for the rest of stdin, look at every process
        time.sleep(0.6)
        seen["vm"] = ssh_pool.run(vm.address, Command.of("ps", "-eo", "args", "ww")).stdout
        seen["machine"] = subprocess.run(["ps", "-eo", "args", "ww"], capture_output=True, check=False, text=True).stdout

    watcher = threading.Thread(target=watch)
    with caplog.at_level(logging.DEBUG):
        watcher.start()
        ssh_pool.run(vm.address, Command(command.argv), stdin=SlowSecretSource(VALUE.encode(), pause=1.5))
        watcher.join()
        assert "write-secret /run/iacorch/secrets/API_TOKEN" in seen["vm"]  # caught it in the act
        assert VALUE not in seen["vm"] and VALUE not in seen["machine"]
        # A failing command that echoes its secret stdin: the error shows the mask, not the value.
        with pytest.raises(HostError) as failure:
            ssh_pool.run(vm.address, Command.shell("cat; echo; echo bad >&2; exit 1"), stdin=secret)
        # Refused on a disk: the secret's own command fails with a clear message, value absent.
        with pytest.raises(HostError) as on_disk:
            ssh_pool.put_secret(vm.address, secret, "/var/tmp/iacorch-secret")
    shown = str(failure.value) + repr(failure.value) + failure.value.stdout + failure.value.stderr
    assert VALUE not in shown and "<secret API_TOKEN>" in shown
    assert VALUE not in str(on_disk.value) and "not a tmpfs" in str(on_disk.value)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "write-secret" in logged and VALUE not in logged
    assert ssh_pool.run(vm.address, Command.of("test", "-e", "/var/tmp/iacorch-secret"), check=False).exit_status == 1
    content = ssh_pool.run(vm.address, Command.of("cat", "/run/iacorch/secrets/API_TOKEN")).stdout
    assert content == VALUE
