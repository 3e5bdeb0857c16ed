"""Host keys are verified strictly; auth failures are clear; nothing runs on a refused host."""

from __future__ import annotations

import dataclasses
import logging
import time

import pytest

from iacorch.command import Command
from iacorch.errors import HostError
from iacorch.ssh import HostUnreachable, SshPool
from iacorch.known_hosts import KnownHostsFile
from iacorch.keys import KeyPair

pytestmark = pytest.mark.e2e


class CountingSleep:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, seconds: float) -> None:
        self.calls += 1
        time.sleep(seconds)


def marker_absent(ssh_pool, vm, path: str) -> bool:
    return ssh_pool.run(vm.address, Command.of("test", "-e", path), check=False).exit_status == 1


def test_wrong_pinned_key_is_refused_before_anything_runs(testbed_vms, ssh_pool, tmp_path):
    vm = testbed_vms[0]
    impostor = KeyPair.generate()
    KnownHostsFile(tmp_path / "known_hosts").pin(vm.name, impostor)
    address = dataclasses.replace(vm.address, known_hosts=str(tmp_path / "known_hosts"))
    sleep = CountingSleep()
    with SshPool(sleep=sleep) as pool, pytest.raises(HostError) as failure:
        pool.run(address, Command.of("touch", "/tmp/ran-on-mismatch"))
    text = str(failure.value)
    assert not isinstance(failure.value, HostUnreachable)
    assert failure.value.where == vm.address.name
    assert "host key mismatch" in text
    assert impostor.fingerprint in text and vm.host_key.fingerprint in text  # expected and presented
    assert "ssh-keygen -R" in text  # what to do
    assert sleep.calls == 0  # never retried
    assert marker_absent(ssh_pool, vm, "/tmp/ran-on-mismatch")


def test_wrong_key_for_the_port_form_of_known_hosts(testbed_vms, ssh_pool, tmp_path):
    vm = testbed_vms[0]
    path = tmp_path / "known_hosts"
    KnownHostsFile(path).pin(f"[127.0.0.1]:{vm.address.port}", vm.host_key)
    good = dataclasses.replace(vm.address, known_hosts=str(path), host_key_alias=None)
    with SshPool() as pool:
        assert pool.run(good, Command.of("hostname")).stdout.strip() == vm.name
    KnownHostsFile(path).pin(f"[127.0.0.1]:{vm.address.port}", KeyPair.generate())
    with SshPool() as pool, pytest.raises(HostError, match="host key mismatch"):
        pool.run(good, Command.of("true"))


def test_unknown_key_is_refused_without_trust_on_first_use(testbed_vms, ssh_pool, tmp_path):
    vm = testbed_vms[0]
    address = dataclasses.replace(vm.address, known_hosts=str(tmp_path / "empty_known_hosts"))
    sleep = CountingSleep()
    with SshPool(sleep=sleep) as pool, pytest.raises(HostError) as failure:
        pool.run(address, Command.of("touch", "/tmp/ran-on-unknown"))
    text = str(failure.value)
    assert "unknown host key" in text and vm.host_key.fingerprint in text
    assert "trust on first use" in text  # the way out, named
    assert sleep.calls == 0
    assert not (tmp_path / "empty_known_hosts").exists()  # nothing recorded
    assert marker_absent(ssh_pool, vm, "/tmp/ran-on-unknown")


def test_trust_on_first_use_records_the_key_loudly(testbed_vms, tmp_path, caplog):
    vm = testbed_vms[1]
    known_hosts = tmp_path / "tofu_known_hosts"
    address = dataclasses.replace(vm.address, known_hosts=str(known_hosts))
    with caplog.at_level(logging.WARNING, logger="iacorch.ssh"), SshPool(trust_on_first_use=True) as pool:
        assert pool.run(address, Command.of("hostname")).stdout.strip() == vm.name
    warnings = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "TRUST ON FIRST USE" in warnings[0] and vm.address.name in warnings[0]
    assert vm.host_key.fingerprint in warnings[0]
    assert known_hosts.read_text() == vm.host_key.known_hosts_line(vm.name) + "\n"
    # Recorded: a strict pool now accepts it, and a second TOFU connection stays quiet.
    caplog.clear()
    with SshPool() as strict:
        assert strict.run(address, Command.of("true")).ok
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


def test_wrong_client_key_is_an_auth_error_not_retried(testbed_vms, tmp_path):
    vm = testbed_vms[0]
    stranger = KeyPair.generate().write_private(tmp_path / "stranger")
    address = dataclasses.replace(vm.address, key_path=str(stranger))
    sleep = CountingSleep()
    with SshPool(sleep=sleep) as pool, pytest.raises(HostError) as failure:
        pool.run(address, Command.of("true"))
    assert "refused authentication for user 'root'" in str(failure.value)
    assert "authorized_keys" in str(failure.value)
    assert sleep.calls == 0


def test_missing_key_file_is_clear(testbed_vms, tmp_path):
    address = dataclasses.replace(testbed_vms[0].address, key_path=str(tmp_path / "nope"))
    with SshPool() as pool, pytest.raises(HostError, match="SSH key file .*nope does not exist"):
        pool.run(address, Command.of("true"))


def test_secret_on_a_command_line_is_refused(testbed_vms, ssh_pool):
    from iacorch.command import Secret

    with pytest.raises(ValueError, match="refusing to put a secret") as failure:
        ssh_pool.run(testbed_vms[0].address, Command.of("echo", Secret("hunter2", "PW")))
    assert "hunter2" not in str(failure.value)
