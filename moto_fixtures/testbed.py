"""The e2e VM testbed: real VMs (systemd + sshd containers) shared by a test session.

Use from a conftest (``from moto_fixtures.testbed import vm_testbed, ssh_pool``) and in tests::

    def test_something(vm_testbed, ssh_pool):
        app, db = vm_testbed.vms(2)                 # shared, ready, host keys pinned
        ssh_pool.run(app.address, Command.of("hostname"))
        fresh = vm_testbed.create_vm("scratch")     # private: stop it, break it, destroy it

Every session gets a unique name prefix (``iact-<worker>-<random>``), so parallel runs and
xdist workers never collide; at session end every container, volume and network it
created is removed, even when tests failed, and removed VMs are checked for leaked
cgroup directories. Resources left by a crashed session (its pid gone) are reaped at start.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from iacorch.errors import IacorchError
from iacorch.ssh import HostAddress, SshPool
from providers.local.base_image import ensure_base_image
from providers.local.cgroups import leaked_cgroup_dirs, remove_cgroup_dirs
from providers.local.docker_cli import DockerCli
from providers.local.machines import LocalMachines, VmSpec
from iacorch.known_hosts import KnownHostsFile
from iacorch.keys import KeyPair

log = logging.getLogger("iacorch.testbed")

LABEL_TESTBED = "iacorch.testbed"
LABEL_PID = "iacorch.testbed.pid"  # "<pid namespace>:<pid>" of the session that made it


def _session_owner() -> str:
    return f"{os.readlink('/proc/self/ns/pid')}:{os.getpid()}"


@dataclass(frozen=True)
class TestVm:
    """A ready VM: ``address`` reaches it over SSH (via 127.0.0.1), ``ip`` is its network IP."""

    __test__ = False  # not a test class, despite the name

    name: str  # the container name
    address: HostAddress
    ip: str
    network: str
    host_key: KeyPair

    def via(self, bastion: TestVm) -> HostAddress:
        """This VM reached at its network IP through ``bastion`` (ProxyJump)."""
        return HostAddress(f"{self.address.name} via {bastion.address.name}", self.ip, 22,
                           key_path=self.address.key_path, known_hosts=self.address.known_hosts,
                           jump=bastion.address, host_key_alias=self.name)


@dataclass
class VmTestbed:
    """One session's VMs, SSH pool, keys and known_hosts; ``close()`` removes it all."""

    workdir: Path
    prefix: str
    machines: LocalMachines
    image: str
    network: str
    client_key: Path
    known_hosts: Path
    ssh: SshPool
    timings: dict[str, list[float]] = field(default_factory=dict)
    _shared: list[TestVm] = field(default_factory=list)
    _created: dict[str, TestVm | None] = field(default_factory=dict)
    _removed_ids: list[str] = field(default_factory=list)
    _networks: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _shared_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def labels(self) -> dict[str, str]:
        return {LABEL_TESTBED: self.prefix, LABEL_PID: _session_owner()}

    def record(self, what: str, seconds: float) -> None:
        with self._lock:
            self.timings.setdefault(what, []).append(round(seconds, 3))

    # ------------------------------------------------------------ VMs

    def vms(self, count: int) -> list[TestVm]:
        """The first ``count`` shared VMs of the session, created (in parallel) when missing."""
        with self._shared_lock:
            missing = count - len(self._shared)
            start = len(self._shared)
            if missing > 0:
                with ThreadPoolExecutor(max_workers=min(missing, 4)) as workers:
                    made = list(workers.map(lambda i: self.create_vm(f"vm{i}"), range(start, count)))
                self._shared.extend(made)
            return self._shared[:count]

    def create_vm(self, suffix: str | None = None, *, network: str | None = None, cpus: float | None = None,
                  memory: str | None = None, ready: bool = True, authorized_keys: str | None = None) -> TestVm:
        """A VM of its own (stop it, break it, destroy it); removed at session end if still there."""
        suffix = suffix or secrets.token_hex(3)
        name = f"{self.prefix}-{suffix}"
        network = network or self.network
        host_key = KeyPair.generate(name)
        spec = VmSpec(name=name, stack=self.prefix, address=f"testbed.{suffix}", network=network, image=self.image,
                      host_key=host_key,
                      authorized_keys=Path(f"{self.client_key}.pub").read_text().rstrip("\n") + "\n"
                      + (authorized_keys or ""),
                      cpus=cpus, memory=memory, labels=self.labels)
        with self._lock:
            self._created[name] = None
        started = time.monotonic()
        self.machines.create(spec)
        KnownHostsFile(self.known_hosts).pin(name, host_key)
        self.machines.start(name)
        state = self.machines.inspect(name)
        if state is None or state.ssh_port is None or state.ip is None:
            raise IacorchError(f"VM {name} did not come up with an SSH port and an IP: {state}", where=name)
        address = HostAddress(f"testbed.{suffix}", "127.0.0.1", state.ssh_port, key_path=str(self.client_key),
                              known_hosts=str(self.known_hosts), host_key_alias=name)
        vm = TestVm(name, address, state.ip, network, host_key)
        with self._lock:
            self._created[name] = vm
        if ready:
            self.ssh.wait_ready(address, timeout=60)
            self.record("vm create to ssh ready (s)", time.monotonic() - started)
        return vm

    def refresh(self, vm: TestVm) -> TestVm:
        """The same VM after a restart: its published port changes, its IP stays."""
        state = self.machines.inspect(vm.name)
        if state is None or state.ssh_port is None:
            raise IacorchError(f"VM {vm.name} is not running", where=vm.name)
        address = HostAddress(vm.address.name, "127.0.0.1", state.ssh_port, key_path=vm.address.key_path,
                              known_hosts=vm.address.known_hosts, host_key_alias=vm.name)
        return TestVm(vm.name, address, state.ip or vm.ip, vm.network, vm.host_key)

    def destroy_vm(self, vm: TestVm | str) -> list[str]:
        """Remove a VM and its volume; returns the container ids (VM and nested) that must leave no cgroups."""
        name = vm if isinstance(vm, str) else vm.name
        if not isinstance(vm, str):
            self.ssh.forget(vm.address)
        ids = self.machines.remove(name)
        with self._lock:
            self._created.pop(name, None)
            self._removed_ids.extend(ids)
        KnownHostsFile(self.known_hosts).forget(name)
        return ids

    def create_network(self, suffix: str, subnet: str | None = None) -> str:
        name = f"{self.prefix}-{suffix}"
        self.machines.ensure_network(name, self.prefix, subnet=subnet, labels=self.labels)
        with self._lock:
            self._networks.append(name)
        return name

    # ------------------------------------------------------------ cleanup

    def leftovers(self) -> dict[str, list[str]]:
        """What this session still has on the engine, by kind."""
        labels = {LABEL_TESTBED: self.prefix}
        return {"containers": [vm.name for vm in self.machines.observe(labels)],
                "volumes": self.machines.volumes(labels), "networks": self.machines.networks(labels)}

    def close(self) -> list[str]:
        """Remove everything this session created; returns problems (leaks) found, [] when clean."""
        self.ssh.close()
        with self._lock:
            names = list(self._created)
        self._removed_ids.extend(self.machines.remove_stack(self.prefix))
        for name in names:  # anything a half-failed create left without its labels
            self._removed_ids.extend(self.machines.remove(name))
        for network in [*self._networks, self.network]:
            self.machines.remove_network_if_empty(network)
        leaked = leaked_cgroup_dirs(self._removed_ids)
        stuck = set(remove_cgroup_dirs(leaked))  # reported as a failure, but not left on the machine
        problems = [f"leaked cgroup dir {path}{' (could not remove it)' if path in stuck else ''}"
                    for path in leaked]
        problems += [f"left {kind}: {', '.join(items)}" for kind, items in self.leftovers().items() if items]
        (self.workdir / "timings.json").write_text(json.dumps(self.timings, indent=2))
        return problems


def reap_orphans(machines: LocalMachines) -> list[str]:
    """Remove testbed VMs, volumes and networks whose session process is gone (a crashed run).

    Only sessions from our own pid namespace are judged; others sharing the engine are left alone.
    """
    reaped = []
    namespace = _session_owner().rsplit(":", 1)[0]

    def orphaned(owner: str | None) -> bool:
        owner_namespace, _, pid = (owner or "").rpartition(":")
        return owner_namespace == namespace and pid.isdigit() and not Path(f"/proc/{pid}").exists()

    for vm in machines.observe({LABEL_TESTBED: ""}):
        if orphaned(vm.labels.get(LABEL_PID)):
            machines.remove(vm.name)
            reaped.append(vm.name)
    for kind in ("volume", "network"):
        listing = machines.docker.text([kind, "ls", "--quiet", "--filter", f"label={LABEL_TESTBED}"]).split()
        for item in listing:
            pid = machines.docker.text([kind, "inspect", "--format",
                                        f'{{{{index .Labels "{LABEL_PID}"}}}}', item], check=False).strip()
            if orphaned(pid):
                machines.docker.run([kind, "rm", item], check=False)
                reaped.append(item)
    return reaped


def open_testbed(workdir: Path) -> VmTestbed:
    """Check the engine, build (or reuse) the base image and make the session's network and keys."""
    docker = DockerCli()
    docker.check_engine()
    machines = LocalMachines(docker)
    reap_orphans(machines)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    prefix = f"iact-{worker}-{secrets.token_hex(3)}"
    started = time.monotonic()
    image = ensure_base_image(docker)
    image_seconds = time.monotonic() - started
    network = f"{prefix}-net"
    machines.ensure_network(network, prefix, labels={LABEL_TESTBED: prefix, LABEL_PID: _session_owner()})
    client_key = KeyPair.generate(f"{prefix}-client").write_private(workdir / "id_ed25519")
    testbed = VmTestbed(workdir=workdir, prefix=prefix, machines=machines, image=image, network=network,
                        client_key=client_key, known_hosts=workdir / "known_hosts",
                        ssh=SshPool(connect_timeout=10, command_timeout=600))
    testbed.record("base image ensure (s)", image_seconds)
    return testbed


TIMINGS = pytest.StashKey[dict[str, list[float]]]()


@pytest.fixture(scope="session")
def vm_testbed(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[VmTestbed]:
    """The session's VM testbed; fails (never skips) with a clear message when Docker is missing."""
    try:
        testbed = open_testbed(tmp_path_factory.mktemp("vm-testbed"))
    except IacorchError as error:
        pytest.fail(f"the e2e VM testbed cannot start: {error}", pytrace=False)
    pytestconfig.stash[TIMINGS] = testbed.timings
    try:
        yield testbed
    finally:
        problems = testbed.close()
        if problems:
            pytest.fail("the VM testbed did not clean up:\n  " + "\n  ".join(problems), pytrace=False)


@pytest.fixture(scope="session")
def ssh_pool(vm_testbed: VmTestbed) -> SshPool:
    """The SSH pool bound to the testbed's VMs (their keys pinned in its known_hosts)."""
    return vm_testbed.ssh


@pytest.fixture(scope="session")
def testbed_vms(vm_testbed: VmTestbed) -> list[TestVm]:
    """Two shared, ready VMs; call ``vm_testbed.vms(n)`` for more."""
    return vm_testbed.vms(2)
