"""Unreachable hosts fail clearly and alone; ProxyJump reaches VMs by their network IP."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time

import pytest

from iacorch.command import Command, Script
from iacorch.errors import HostError
from iacorch.ssh import HostUnreachable, SshPool

pytestmark = pytest.mark.e2e


def closed_local_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_closed_port_is_a_clear_unreachable_error(testbed_vms):
    address = dataclasses.replace(testbed_vms[0].address, name="group.app[9]", port=closed_local_port())
    started = time.monotonic()
    with SshPool(retries=3) as pool, pytest.raises(HostUnreachable) as failure:
        pool.run(address, Command.of("true"))
    assert time.monotonic() - started < 5  # a few quick retries, then the answer
    text = str(failure.value)
    assert text.startswith("group.app[9]: cannot reach root@127.0.0.1:")
    assert "connection refused" in text and "hint:" in text


def test_stopped_vm_fails_alone_while_others_keep_working(vm_testbed, testbed_vms):
    doomed = vm_testbed.create_vm("stopme")
    healthy = testbed_vms[0]
    pool = vm_testbed.ssh
    assert pool.run(doomed.address, Command.of("true")).ok
    interrupted: list[BaseException] = []

    def long_running() -> None:
        try:
            pool.run(doomed.address, Command.of("sleep", "60"))
        except HostError as error:
            interrupted.append(error)

    runner = threading.Thread(target=long_running)
    runner.start()
    time.sleep(0.5)
    vm_testbed.machines.stop(doomed.name, timeout=5)
    runner.join(timeout=30)
    assert len(interrupted) == 1 and isinstance(interrupted[0], HostUnreachable)
    assert "lost while running sleep 60" in str(interrupted[0]) and "may or may not have finished" in str(interrupted[0])
    with pytest.raises(HostUnreachable) as failure:
        pool.run(doomed.address, Command.of("true"))
    assert failure.value.where == doomed.address.name
    assert pool.run(healthy.address, Script.of(Command.of("hostname"))).steps[0].stdout.strip() == healthy.name
    # Back up: a new published port, same host key, same network IP.
    vm_testbed.machines.start(doomed.name)
    again = vm_testbed.refresh(doomed)
    assert again.ip == doomed.ip
    pool.wait_ready(again.address, timeout=30)
    assert pool.run(again.address, Command.of("hostname")).stdout.strip() == doomed.name
    vm_testbed.destroy_vm(again)


def test_proxy_jump_through_one_vm_to_another_vms_network_ip(testbed_vms, ssh_pool):
    bastion, target = testbed_vms
    through = target.via(bastion)
    result = ssh_pool.run(through, Script.of(Command.of("hostname"), Command.shell("ip -4 -o addr show eth0")))
    assert result[0].stdout.strip() == target.name
    assert f"inet {target.ip}/" in result[1].stdout
    # The jump reuses the bastion's pooled connection: one sshd session on the bastion.
    assert ssh_pool.run(through, Command.of("true")).ok


def test_proxy_jump_to_a_dead_target_names_it_and_the_bastion(testbed_vms, vm_testbed):
    bastion = testbed_vms[0]
    target = vm_testbed.create_vm("jumpdead")
    address = target.via(bastion)
    vm_testbed.destroy_vm(target)
    with SshPool(connect_timeout=3, retries=2) as pool, pytest.raises(HostUnreachable) as failure:
        pool.run(address, Command.of("true"))
    text = str(failure.value)
    assert failure.value.where == address.name
    assert f"bastion {bastion.address.name}" in text and target.ip in text
    with SshPool() as pool:  # the bastion itself is fine
        assert pool.run(bastion.address, Command.of("true")).ok


def test_unresolvable_host_name(testbed_vms):
    address = dataclasses.replace(testbed_vms[0].address, host="no-such-host.invalid", port=22)
    with SshPool() as pool, pytest.raises(HostError, match="cannot resolve 'no-such-host.invalid'"):
        pool.run(address, Command.of("true"))


def test_wait_ready_does_a_real_handshake(vm_testbed):
    vm = vm_testbed.create_vm("late", ready=False)
    waited = vm_testbed.ssh.wait_ready(vm.address, timeout=60)
    vm_testbed.record("start to ssh handshake ok (s)", waited)
    assert vm_testbed.ssh.run(vm.address, Command.of("systemctl", "is-active", "ssh")).stdout == "active\n"
    vm_testbed.destroy_vm(vm)
