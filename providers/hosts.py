"""Reaching a cloud's instances over SSH, shared by the AWS and GCP providers.

Each provider says how to look one instance up (``describe``) and how to dial
it when nothing else says where it is (``direct``: a public IP, a private IP
through a bastion...). Everything else is the same on every cloud:

- instances seen by the last observation are remembered, so reaching a host
  costs no extra API call;
- **host bindings**: a binding maps an instance's cloud id to the machine that
  really answers for it. The offline testbed (``moto_fixtures.binder``) writes
  them to the JSON file named by ``IACORCH_HOST_BINDINGS``::

      {"instances": {"<cloud id>": {"host": "127.0.0.1", "port": 32771, "user": "root",
                                    "host_key": "ssh-ed25519 AAAA...", "ip": "172.18.0.5",
                                    "vm": "<container>", "state": "running"}}}

  A simulated cloud's instances are not machines, so against a local endpoint
  iacorch never dials their addresses and reaches hosts only through bindings;
- where other hosts of the stack reach one (``peer_ip``) and the URL of a load
  balancer on one (``lb_url``).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from iacorch.addresses import parse_instance_address
from iacorch.errors import ProviderError
from iacorch.home import stack_dir
from iacorch.keys import private_key_path
from iacorch.known_hosts import KnownHostsFile
from iacorch.provider import IdMap
from iacorch.resources import Observed
from iacorch.ssh import HostAddress
from iacorch.stack.load import StackFile

BINDINGS_ENV = "IACORCH_HOST_BINDINGS"
BINDING_WAIT = 180.0  # a new instance's machine may take this long to come up


class HostBindings:
    """The bindings file: which machine answers for which instance."""

    def __init__(self, path: str, known_hosts: str, wait: float = BINDING_WAIT) -> None:
        self.path, self.known_hosts, self.wait = path, known_hosts, wait

    def bound(self, instance_id: str, name: str, where: str) -> dict[str, Any]:
        """The binding of a running instance, waiting (up to ``wait``) for its machine to come up."""
        deadline = time.monotonic() + self.wait
        while True:
            try:
                with open(self.path, encoding="utf-8") as f:
                    bound = json.load(f).get("instances", {}).get(instance_id)
            except (OSError, ValueError):
                bound = None
            if bound and bound.get("state", "running") == "running":
                return bound
            if time.monotonic() >= deadline:
                raise ProviderError(f"no machine is bound to instance {name} after {self.wait:.0f}s",
                                    where=where, hint=f"is the binder writing {self.path} running?")
            time.sleep(0.2)

    def address(self, instance: dict[str, Any], where: str, user: str, key: str) -> HostAddress:
        """SSH to the bound machine, its host key pinned under the instance's name."""
        bound = self.bound(instance["id"], instance["name"], where)
        if bound.get("host_key"):
            KnownHostsFile(self.known_hosts).pin_public(instance["name"], bound["host_key"])
        return HostAddress(name=where, host=bound["host"], port=int(bound["port"]), user=bound.get("user", user),
                           key_path=key, known_hosts=self.known_hosts, host_key_alias=instance["name"])


class CloudHosts:
    """The hosts behind one stack's instances. Subclasses implement ``describe`` and ``direct``.

    An instance is a dict: ``id`` (the cloud id, the key of its binding), ``name`` (what messages
    show and its host key is filed under), ``private_ip`` and ``public_ip``.
    """

    cloud = "the cloud"  # in messages: "<cloud>'s instances are not machines"

    def __init__(self, sf: StackFile) -> None:
        self.sf = sf
        self.known_hosts = os.path.join(stack_dir(sf.stack.stack), "known_hosts")
        path = os.environ.get(BINDINGS_ENV)
        self.bindings = HostBindings(path, self.known_hosts) if path else None
        self._instances: dict[str, dict[str, Any]] = {}  # address -> instance
        self._lock = threading.Lock()

    # -- what subclasses provide ------------------------------------------------------------
    @property
    def local_endpoint(self) -> bool:
        """True when the cloud is a local simulation: its instances are never dialed."""
        raise NotImplementedError

    def describe(self, address: str, ident: str) -> dict[str, Any]:
        """The instance with cloud id ``ident`` (not seen by the last observation), from the API."""
        raise NotImplementedError

    def direct(self, address: str, instance: dict[str, Any], ids: IdMap | None, user: str, port: int,
               key: str) -> HostAddress:
        """How SSH reaches a real instance of this cloud."""
        raise NotImplementedError

    @staticmethod
    def instance_of(ident: str, name: str, private_ip: str | None, public_ip: str | None) -> dict[str, Any]:
        return {"id": ident, "name": name, "private_ip": private_ip, "public_ip": public_ip}

    def name_of(self, ident: str) -> str:
        return ident

    def template_capacity(self) -> dict[str, dict]:
        """Template -> {cpus, memory} known from its instance or machine type, for placement."""
        return {}

    # -- shared -----------------------------------------------------------------------------
    def remember(self, observed: Observed) -> None:
        with self._lock:
            for res in observed.resources.values():
                if res.kind == "instance":
                    self._instances[res.address] = self.instance_of(
                        res.id, self.name_of(res.id), res.attrs.get("private_ip"), res.attrs.get("public_ip"))

    def address(self, address: str, ids: IdMap | None) -> HostAddress:
        instance = self._instance(address, ids)
        parsed = parse_instance_address(address)
        if parsed is None:
            raise ProviderError(f"{address} is not an instance of a group", where=address,
                                hint="this is a bug in iacorch")
        group = parsed[0]
        template = self.sf.stack.groups[group].template
        ssh = self.sf.stack.launch_templates[template].ssh
        key = private_key_path(self.sf, template)
        if self.bindings:
            return self.bindings.address(instance, address, ssh.user, key)
        if self.local_endpoint:
            raise ProviderError(
                f"instance {instance['name']} has no host binding; {self.cloud}'s instances are not machines, "
                "so iacorch does not dial their addresses", where=address,
                hint=f"bind instances to testbed VMs ({BINDINGS_ENV}, see moto_fixtures.binder)")
        return self.direct(address, instance, ids, ssh.user, ssh.port, key)

    def peer_ip(self, address: str, ids: IdMap | None) -> str | None:
        """Where other hosts of the stack (a load balancer) reach this one: its private IP, or the
        bound machine's IP."""
        instance = self._instance(address, ids)
        if self.bindings:
            return self.bindings.bound(instance["id"], instance["name"], address).get("ip")
        return instance["private_ip"]

    def lb_url(self, address: str, port: int, scheme: str = "http") -> str | None:
        instance = self._instance(address, None)
        if self.bindings:
            ip = self.bindings.bound(instance["id"], instance["name"], address).get("ip")
        else:
            ip = instance["public_ip"] or instance["private_ip"]
        return f"{scheme}://{ip}:{port}" if ip else None

    def _instance(self, address: str, ids: IdMap | None) -> dict[str, Any]:
        with self._lock:
            known = self._instances.get(address)
        ident = ids.get(address) if ids is not None else None
        if known and (ident is None or known["id"] == ident):
            return known
        if ident is None:
            raise ProviderError(f"{address} does not exist", where=address, hint="run apply to create it")
        known = self.describe(address, ident)
        with self._lock:
            self._instances[address] = known
        return known


class ReachesHosts:
    """What a cloud provider offers the host layer and load balancers, delegated to its ``hosts``."""

    hosts: CloudHosts

    def host_address(self, address: str, ids: IdMap | None = None) -> HostAddress:
        return self.hosts.address(address, ids)

    def peer_ip(self, address: str, ids: IdMap | None = None) -> str | None:
        return self.hosts.peer_ip(address, ids)

    def lb_url(self, address: str, port: int, scheme: str = "http") -> str | None:
        return self.hosts.lb_url(address, port, scheme)

    def template_capacity(self) -> dict[str, dict]:
        return self.hosts.template_capacity()


def capacity_table(sf: StackFile, field: str, sizes: Mapping[str, tuple[float, float]],
                   parse: Callable[[str], tuple[float, float] | None] | None = None) -> dict[str, dict]:
    """Template -> {cpus, memory bytes} for templates whose ``field`` (instance or machine type) is known."""
    out = {}
    for name, tpl in sf.stack.launch_templates.items():
        kind = getattr(tpl, field, None)
        size = sizes.get(kind or "") or (parse(kind) if parse and kind else None)
        if size:
            cpus, gib = size
            out[name] = {"cpus": cpus, "memory": int(gib * 1024**3)}
    return out
