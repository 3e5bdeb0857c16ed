"""The local provider: VMs are containers on this machine's Docker engine (like kind
does for Kubernetes), each with systemd, sshd and its own pinned host key; from
there everything goes over SSH exactly as on a cloud VM.

Machinery: ``base_image`` (the debootstrap Debian image, built once per recipe),
``machines`` (networks and VMs by label; host keys come from iacorch.keys),
``cgroups`` (leak checks for tests); ``model`` is the pure stack -> resources half.
"""

from __future__ import annotations

import os
import threading

from iacorch.errors import ProviderError
from iacorch.home import stack_dir
from iacorch.keys import private_key_path, public_key_line
from iacorch.lock import FileLockBackend
from iacorch.plan import Change
from iacorch.provider import IdMap, Step
from iacorch.resources import Observed, ObservedResource
from iacorch.ssh import HostAddress
from iacorch.stack.load import StackFile
from providers.local.base_image import Recipe, ensure_base_image
from providers.local.cgroups import leaked_cgroup_dirs
from providers.local.docker_cli import DockerCli
from providers.local.machines import (
    LABEL_ADDRESS, LABEL_KIND, LABEL_PUBLISH, LABEL_STACK, LocalMachines, VmSpec, VmState,
)
from providers.local.model import NETWORK, LocalModel, vm_name
from iacorch.known_hosts import KnownHostsFile
from iacorch.keys import KeyPair, load_or_create_client_key

__all__ = ["LocalProvider", "LocalMachines", "VmSpec", "VmState", "KeyPair", "KnownHostsFile", "DockerCli",
           "Recipe", "ensure_base_image", "leaked_cgroup_dirs", "load_or_create_client_key",
           "LABEL_ADDRESS", "LABEL_KIND", "LABEL_STACK"]


class LocalProvider:
    name = "local"

    def __init__(self, sf: StackFile) -> None:
        self.sf = sf
        self.stack = sf.stack.stack
        self.recipe = Recipe.load()
        self.model = LocalModel(self.recipe.tag)
        self.machines = LocalMachines()
        self.known_hosts = KnownHostsFile(os.path.join(stack_dir(self.stack), "known_hosts"))
        self._states: dict[str, VmState] = {}
        self._lock = threading.Lock()
        self.calls: dict[str, int] = {}

    # -- observe ------------------------------------------------------------------------
    def observe(self) -> Observed:
        found: dict[str, ObservedResource] = {}
        for name in self.machines.networks({LABEL_STACK: self.stack}):
            found[NETWORK] = ObservedResource(NETWORK, "docker_network", name,
                                              {"name": name, "subnet": self._subnet_of(name)})
        vms = self.machines.observe({LABEL_STACK: self.stack})
        with self._lock:
            self._states = {vm.address: vm for vm in vms if vm.address}
        for vm in vms:
            if not vm.address:
                continue
            network = NETWORK if found.get(NETWORK) and vm.network == found[NETWORK].id else vm.network
            found[vm.address] = ObservedResource(vm.address, "vm", vm.name, {
                "name": vm.name, "image": vm.image, "network": network, "cpus": vm.cpus, "memory": vm.memory,
                "publish": sorted(int(p) for p in vm.labels.get(LABEL_PUBLISH, "").split(",") if p),
                "state": "running" if vm.running else "stopped",
                "private_ip": vm.ip, "ssh_port": vm.ssh_port,
            }, deps=(NETWORK,) if network == NETWORK else ())
        return Observed(stack=self.stack, provider="local", resources=found)

    def _subnet_of(self, network: str) -> str | None:
        if self.sf.stack.network is None:
            return None  # Docker picked one; we did not ask for any
        return self.machines.docker.text(["network", "inspect", "--format",
                                          "{{range .IPAM.Config}}{{.Subnet}}{{end}}", network]).strip() or None

    # -- apply --------------------------------------------------------------------------
    def apply(self, step: Step, ids: IdMap) -> str | None:
        return getattr(self, f"_{step.op}_{step.change.kind}")(step.change, ids)

    def _create_docker_network(self, c: Change, ids: IdMap) -> str:
        self.machines.ensure_network(c.after["name"], self.stack, c.after.get("subnet"),
                                     labels={LABEL_ADDRESS: c.address})
        return c.after["name"]

    def _delete_docker_network(self, c: Change, ids: IdMap) -> None:
        if not self.machines.remove_network_if_empty(c.id or c.before["name"]):
            raise ProviderError(f"network {c.id} still has containers attached", where=c.address,
                                hint="remove the containers that are not part of the stack from it")

    def _create_vm(self, c: Change, ids: IdMap) -> str:
        image = ensure_base_image(self.machines.docker, self.recipe)
        if image != c.after["image"]:
            raise ProviderError(f"the VM base image is {image}, the plan expected {c.after['image']}",
                                where=c.address, hint="make a new plan")
        group = c.address.split(".", 1)[1].split("[", 1)[0]
        template = self.sf.stack.groups[group].template
        host_key = KeyPair.generate(comment=c.after["name"])
        memory = c.after.get("memory")
        publish = tuple(c.after.get("publish") or ())
        spec = VmSpec(name=c.after["name"], stack=self.stack, address=c.address, network=ids[c.after["network"]],
                      image=image, host_key=host_key, authorized_keys=public_key_line(self.sf, template),
                      cpus=c.after.get("cpus"), memory=str(memory) if memory else None, publish=publish,
                      labels={LABEL_PUBLISH: ",".join(map(str, publish))} if publish else {})
        self.machines.remove(spec.name)  # a half-made VM of an interrupted apply
        self.machines.create(spec)
        self.known_hosts.pin(spec.name, host_key)
        self.machines.start(spec.name)
        self._forget(c.address)
        return spec.name

    def _update_vm(self, c: Change, ids: IdMap) -> None:
        changed = {f.name for f in c.fields}
        name = c.before["name"]
        if changed & {"cpus", "memory"}:
            args = ["update"]
            if c.after.get("cpus") is not None:
                args += ["--cpus", f"{c.after['cpus']:g}"]
            if c.after.get("memory") is not None:
                args += ["--memory", str(c.after["memory"]), "--memory-swap", str(c.after["memory"] * 2)]
            self.machines.docker.run([*args, name])
        if "state" in changed and c.after["state"] == "running":
            self.machines.start(name)
        self._forget(c.address)

    def _delete_vm(self, c: Change, ids: IdMap) -> None:
        self.machines.remove(c.before["name"])
        self.known_hosts.forget(c.before["name"])
        self._forget(c.address)

    # -- hosts --------------------------------------------------------------------------
    def _state(self, address: str) -> VmState:
        with self._lock:
            state = self._states.get(address)
        if state is None or not state.ssh_port:
            group, index = address.removeprefix("group.").rstrip("]").split("[")
            state = self.machines.inspect(vm_name(self.stack, group, int(index)))
            if state is None or not state.running or not state.ssh_port:
                raise ProviderError(f"{address} is not running", where=address,
                                    hint="run apply to start or recreate it")
            with self._lock:
                self._states[address] = state
        return state

    def host_address(self, address: str, ids: IdMap | None = None) -> HostAddress:
        state = self._state(address)
        if not self.known_hosts.has(state.name):
            # the engine on this machine is the authority on its VMs' keys (like a cloud console)
            pub = self.machines.docker.text(["exec", state.name, "cat", "/etc/ssh/ssh_host_ed25519_key.pub"])
            self.known_hosts.pin_public(state.name, pub)
        group = address.removeprefix("group.").split("[", 1)[0]
        template = self.sf.stack.groups[group].template
        # local VMs authorize the template's key for root only
        return HostAddress(name=address, host="127.0.0.1", port=state.ssh_port, user="root",
                           key_path=private_key_path(self.sf, template), known_hosts=str(self.known_hosts.path),
                           host_key_alias=state.name)

    def peer_ip(self, address: str, ids: IdMap | None = None) -> str | None:
        """Where other VMs (the load balancer) reach this one: its IP on the stack's network."""
        return self._state(address).ip

    def lb_url(self, address: str, port: int, scheme: str = "http") -> str | None:
        """A load balancer's address from this machine: its VM's port published on 127.0.0.1."""
        state = self._state(address)
        published = state.published.get(port)
        return f"{scheme}://127.0.0.1:{published}" if published else f"{scheme}://{state.ip}:{port}"

    def _forget(self, address: str) -> None:
        with self._lock:
            self._states.pop(address, None)

    def template_capacity(self) -> dict[str, dict]:
        out = {}
        for name, tpl in self.sf.stack.launch_templates.items():
            cap = {}
            if tpl.cpus:
                cap["cpus"] = tpl.cpus
            if tpl.memory:
                cap["memory"] = tpl.memory
            if cap:
                out[name] = cap
        return out

    def lock_backend(self) -> FileLockBackend:
        configured = self.sf.stack.provider.local.lock
        return FileLockBackend(self.sf.resolve(configured) if configured
                               else os.path.join(stack_dir(self.stack), "lock"))

    def close(self) -> None:
        pass
