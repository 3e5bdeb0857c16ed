"""VMs as containers on the local Docker engine: create, start, stop, observe, remove.

A VM is a container from the base image running systemd as PID 1 and sshd as a unit,
with exactly the flags that work on these machines (no ``--privileged``), a named
volume for ``/var/lib/docker`` (Docker gets installed into it later, over SSH) and its
SSH port published on 127.0.0.1 only. Everything created carries ``iacorch.*`` labels,
so it can be observed and cleaned by label.
"""

from __future__ import annotations

import io
import json
import logging
import tarfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from iacorch.errors import ProviderError
from providers.local.docker_cli import ENGINE, DockerCli
from iacorch.keys import KeyPair

log = logging.getLogger("iacorch.local.machines")

LABEL_STACK = "iacorch.stack"
LABEL_ADDRESS = "iacorch.address"
LABEL_KIND = "iacorch.kind"
LABEL_VM = "iacorch.vm"  # on a VM's volume: the VM's container name
LABEL_PUBLISH = "iacorch.publish"  # ports of the VM published on 127.0.0.1 (its load balancers)

CAPABILITIES = ("SYS_ADMIN", "NET_ADMIN", "SYS_MODULE", "SYS_RAWIO", "SYS_PTRACE", "SYS_NICE", "SYS_TIME",
                "MKNOD", "IPC_LOCK", "IPC_OWNER", "LINUX_IMMUTABLE", "NET_BROADCAST", "DAC_READ_SEARCH",
                "AUDIT_CONTROL", "MAC_ADMIN", "MAC_OVERRIDE", "SYSLOG")

# Run inside a VM before it is removed: nested containers and dockerd stop first, or
# they leave empty cgroup directories behind on the machine. Prints the nested ids.
STOP_NESTED_DOCKER = (
    "command -v docker >/dev/null 2>&1 || exit 0; "
    "ids=$(docker ps -q --no-trunc 2>/dev/null); echo \"$ids\"; "
    "[ -z \"$ids\" ] || docker rm -f $ids >/dev/null 2>&1; "
    "systemctl stop docker.socket docker.service containerd.service >/dev/null 2>&1; exit 0"
)


@dataclass(frozen=True)
class VmSpec:
    """One VM to create. ``name`` is the container name, ``address`` the stack address it serves."""

    name: str
    stack: str
    address: str
    network: str
    image: str
    host_key: KeyPair
    authorized_keys: str
    hostname: str | None = None
    ip: str | None = None
    cpus: float | None = None
    memory: str | None = None  # docker syntax: 512m, 2g
    labels: Mapping[str, str] = field(default_factory=dict)
    publish: tuple[int, ...] = ()  # more ports published on 127.0.0.1 (a free host port each)

    @property
    def volume(self) -> str:
        return f"{self.name}-docker"

    def all_labels(self) -> dict[str, str]:
        return {LABEL_STACK: self.stack, LABEL_ADDRESS: self.address, LABEL_KIND: "vm", **self.labels}

    def create_args(self) -> list[str]:
        """The ``docker create`` arguments (after ``docker``) for this VM."""
        args = ["create", "--name", self.name, "--hostname", self.hostname or self.name,
                "--network", self.network]
        if self.ip:
            args += ["--ip", self.ip]
        for capability in CAPABILITIES:
            args += ["--cap-add", capability]
        args += ["--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
                 "--device-cgroup-rule", "a *:* rwm", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
                 "--tmpfs", "/run", "--tmpfs", "/run/lock", "-e", "container=docker",
                 "-v", f"{self.volume}:/var/lib/docker", "-p", "127.0.0.1::22",
                 *(arg for port in self.publish for arg in ("-p", f"127.0.0.1::{port}")),
                 "--stop-signal", "SIGRTMIN+3"]
        if self.cpus is not None:
            args += ["--cpus", f"{self.cpus:g}"]
        if self.memory is not None:
            args += ["--memory", self.memory]
        for key, value in sorted(self.all_labels().items()):
            args += ["--label", f"{key}={value}"]
        return [*args, self.image, "/lib/systemd/systemd"]

    def identity_tar(self) -> bytes:
        """The host key and authorized_keys, as a tar to unpack at ``/`` (owned by root)."""
        entries = [("etc/ssh/ssh_host_ed25519_key", self.host_key.private, 0o600),
                   ("etc/ssh/ssh_host_ed25519_key.pub", (self.host_key.public + "\n").encode(), 0o644),
                   ("root/.ssh/authorized_keys", self.authorized_keys.rstrip("\n").encode() + b"\n", 0o600)]
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            directory = tarfile.TarInfo("root/.ssh")
            directory.type, directory.mode = tarfile.DIRTYPE, 0o700
            archive.addfile(directory)
            for path, data, mode in entries:
                info = tarfile.TarInfo(path)
                info.size, info.mode = len(data), mode
                archive.addfile(info, io.BytesIO(data))
        return buffer.getvalue()


@dataclass(frozen=True)
class VmState:
    """A VM as observed: ``ssh_port`` is the published 127.0.0.1 port (None when stopped)."""

    id: str
    name: str
    state: str  # created | running | exited | ...
    ip: str | None
    network: str | None
    ssh_port: int | None
    labels: Mapping[str, str]
    image: str = ""
    cpus: float | None = None
    memory: int | None = None
    published: Mapping[int, int] = field(default_factory=dict)  # VM port -> 127.0.0.1 port

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def address(self) -> str | None:
        return self.labels.get(LABEL_ADDRESS)


def _label_filters(labels: Mapping[str, str]) -> list[str]:
    args: list[str] = []
    for key, value in sorted(labels.items()):
        args += ["--filter", f"label={key}={value}" if value else f"label={key}"]
    return args


def _parse_state(item: dict) -> VmState:
    networks = item.get("NetworkSettings", {}).get("Networks") or {}
    network, ip = next(((name, data.get("IPAddress") or None) for name, data in networks.items()), (None, None))
    bindings = (item.get("NetworkSettings", {}).get("Ports") or {}).get("22/tcp") or []
    port = next((int(b["HostPort"]) for b in bindings if b.get("HostIp") in ("127.0.0.1", "")), None)
    host = item.get("HostConfig") or {}
    published = {}
    for key, binds in (item.get("NetworkSettings", {}).get("Ports") or {}).items():
        number, _, proto = key.partition("/")
        if proto == "tcp" and number != "22" and binds:
            local = [b for b in binds if b.get("HostIp") in ("127.0.0.1", "")]
            if local and local[0].get("HostPort"):
                published[int(number)] = int(local[0]["HostPort"])
    return VmState(id=item["Id"], name=item["Name"].lstrip("/"), state=item["State"]["Status"], ip=ip,
                   network=network, ssh_port=port, labels=item["Config"].get("Labels") or {},
                   image=item["Config"].get("Image", ""), cpus=(host.get("NanoCpus") or 0) / 1e9 or None,
                   memory=host.get("Memory") or None, published=published)


class LocalMachines:
    """The VM side of the local provider, on one Docker engine."""

    def __init__(self, docker: DockerCli | None = None) -> None:
        self.docker = docker or DockerCli()

    # ------------------------------------------------------------ networks

    def ensure_network(self, name: str, stack: str, subnet: str | None = None,
                       labels: Mapping[str, str] | None = None) -> None:
        """Create the stack's bridge network unless it exists (optionally with a subnet CIDR)."""
        if self.docker.run(["network", "inspect", name], check=False).returncode == 0:
            return
        args = ["network", "create", "--driver", "bridge"]
        if subnet:
            args += ["--subnet", subnet]
        all_labels = {LABEL_STACK: stack, LABEL_KIND: "network", **(labels or {})}
        args += [arg for key, value in sorted(all_labels.items()) for arg in ("--label", f"{key}={value}")]
        done = self.docker.run([*args, name], check=False)
        if done.returncode != 0:
            stderr = done.stderr.decode(errors="replace")
            if "already exists" in stderr:
                return  # created concurrently
            if "overlap" in stderr:
                raise ProviderError(f"network {name}: subnet {subnet} overlaps an existing Docker network",
                                    where=ENGINE, hint="pick another CIDR for the stack's local network")
            raise self.docker.failure(["network", "create", name], stderr)

    def remove_network_if_empty(self, name: str) -> bool:
        done = self.docker.run(["network", "inspect", "--format", "{{len .Containers}}", name], check=False)
        if done.returncode != 0:
            return True  # already gone
        if done.stdout.strip() != b"0":
            return False
        return self.docker.run(["network", "rm", name], check=False).returncode == 0

    # ------------------------------------------------------------ lifecycle

    def create(self, spec: VmSpec) -> None:
        """``docker create`` the VM and copy its host key and authorized_keys in (not started)."""
        self.docker.run(["volume", "create", "--label", f"{LABEL_STACK}={spec.stack}",
                         "--label", f"{LABEL_KIND}=vm-volume", "--label", f"{LABEL_VM}={spec.name}",
                         *(arg for key, value in sorted(spec.labels.items()) for arg in ("--label", f"{key}={value}")),
                         spec.volume])
        try:
            self.docker.run(spec.create_args())
            self.docker.run(["cp", "-", f"{spec.name}:/"], input=spec.identity_tar())
        except ProviderError:
            self.remove(spec.name)
            raise

    def start(self, name: str) -> None:
        self.docker.run(["start", name])

    def stop(self, name: str, timeout: int = 10) -> None:
        self.docker.run(["stop", "--time", str(timeout), name])

    def stop_nested_docker(self, name: str) -> list[str]:
        """Remove a running VM's nested containers and stop its dockerd; returns their ids."""
        done = self.docker.run(["exec", name, "sh", "-c", STOP_NESTED_DOCKER], check=False, timeout=120)
        if done.returncode != 0:
            return []
        return done.stdout.decode().split()

    def remove(self, name: str) -> list[str]:
        """Remove a VM and its volume, leaving nothing behind; returns the nested container ids it had."""
        state = self.docker.run(["inspect", "--format", "{{.State.Running}}|{{.Id}}", name], check=False)
        if state.returncode != 0:
            self.docker.run(["volume", "rm", "-f", f"{name}-docker"], check=False)
            return []
        running, container_id = state.stdout.decode().strip().split("|")
        nested = self.stop_nested_docker(name) if running == "true" else []
        if running == "true":
            self.docker.run(["stop", "--time", "10", name], check=False)
        self.docker.run(["rm", "-f", "-v", name])
        self.docker.run(["volume", "rm", "-f", f"{name}-docker"], check=False)
        return [container_id, *nested]

    def remove_stack(self, stack: str, parallel: int = 4) -> list[str]:
        """Remove every VM, volume and network labelled with ``stack``; returns the container ids
        (VMs and their nested containers) so callers can check for leaked cgroups."""
        names = [vm.name for vm in self.observe({LABEL_STACK: stack})]
        with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(names) or 1))) as workers:
            ids = [one for removed in workers.map(self.remove, names) for one in removed]
        for volume in self.volumes({LABEL_STACK: stack}):
            self.docker.run(["volume", "rm", "-f", volume], check=False)
        for network in self.networks({LABEL_STACK: stack}):
            self.remove_network_if_empty(network)
        return ids

    # ------------------------------------------------------------ observation

    def observe(self, labels: Mapping[str, str]) -> list[VmState]:
        """Every VM carrying ``labels`` (a value of "" matches any), with state, IP and SSH port."""
        ids = self.docker.text(["ps", "-a", "--no-trunc", "--quiet", *_label_filters(labels),
                                "--filter", f"label={LABEL_KIND}=vm"]).split()
        if not ids:
            return []
        done = self.docker.run(["inspect", *ids], check=False)
        if done.returncode != 0:  # one vanished between the two calls: ask again for the rest
            return [state for state in (self.inspect(one) for one in ids) if state is not None]
        return sorted((_parse_state(item) for item in json.loads(done.stdout)), key=lambda vm: vm.name)

    def inspect(self, name: str) -> VmState | None:
        done = self.docker.run(["inspect", name], check=False)
        if done.returncode != 0:
            return None
        return _parse_state(json.loads(done.stdout)[0])

    def volumes(self, labels: Mapping[str, str]) -> list[str]:
        return self.docker.text(["volume", "ls", "--quiet", *_label_filters(labels)]).split()

    def networks(self, labels: Mapping[str, str]) -> list[str]:
        return self.docker.text(["network", "ls", "--format", "{{.Name}}", *_label_filters(labels)]).split()
