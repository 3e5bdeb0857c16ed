"""Reaching EC2 instances over SSH: by public IP, by private IP (optionally through a
bastion group's first instance), or through a host binding.

A binding maps an instance id to the machine that really answers for it. The
offline testbed (moto_fixtures.binder) writes them to the JSON file named by
``IACORCH_HOST_BINDINGS``: moto's instances are not machines, so against a
local endpoint iacorch never dials their addresses and reaches hosts only
through bindings.
"""

from __future__ import annotations

import json
import os
import threading
import time

from iacorch.errors import ProviderError
from iacorch.home import stack_dir
from iacorch.known_hosts import KnownHostsFile
from iacorch.keys import private_key_path
from iacorch.addresses import instance_address, parse_instance_address
from iacorch.provider import IdMap
from iacorch.resources import Observed
from iacorch.ssh import HostAddress
from iacorch.stack.load import StackFile
from providers.aws.session import AwsSession, translate

BINDINGS_ENV = "IACORCH_HOST_BINDINGS"
BINDING_WAIT = 180.0  # a new instance's machine may take this long to come up


class AwsHosts:
    def __init__(self, session: AwsSession, sf: StackFile) -> None:
        self.session, self.sf = session, sf
        self.known_hosts = os.path.join(stack_dir(sf.stack.stack), "known_hosts")
        self.bindings = os.environ.get(BINDINGS_ENV)
        self._instances: dict[str, dict] = {}  # address -> {"id", "private_ip", "public_ip"}
        self._lock = threading.Lock()

    def remember(self, observed: Observed) -> None:
        with self._lock:
            for res in observed.resources.values():
                if res.kind == "instance":
                    self._instances[res.address] = {"id": res.id, "private_ip": res.attrs.get("private_ip"),
                                                    "public_ip": res.attrs.get("public_ip")}

    def address(self, address: str, ids: IdMap | None) -> HostAddress:
        instance = self._instance(address, ids)
        group = parse_instance_address(address)[0]
        template = self.sf.stack.groups[group].template
        ssh = self.sf.stack.launch_templates[template].ssh
        key = private_key_path(self.sf, template)
        if self.bindings:
            bound = self._binding(instance["id"], address)
            return HostAddress(name=address, host=bound["host"], port=int(bound["port"]),
                               user=bound.get("user", ssh.user), key_path=key, known_hosts=self._pin(bound, instance),
                               host_key_alias=instance["id"])
        if self.session.local_endpoint:
            raise ProviderError(
                f"instance {instance['id']} has no host binding; moto's instances are not machines, so "
                "iacorch does not dial their addresses", where=address,
                hint=f"bind instances to testbed VMs ({BINDINGS_ENV}, see moto_fixtures.binder)")
        settings = self.sf.stack.provider.aws.ssh
        jump = None
        if settings.bastion:
            jump = self.address(instance_address(settings.bastion, 0), ids)
        private = settings.via == "private_ip" or jump is not None
        host = instance["private_ip"] if private else instance["public_ip"]
        if not host:
            raise ProviderError(f"instance {instance['id']} has no {'private' if private else 'public'} IP",
                                where=address, hint="put the group in a public subnet, or set provider.aws.ssh: "
                                "{via: private_ip, bastion: GROUP}")
        return HostAddress(name=address, host=host, port=ssh.port, user=ssh.user, key_path=key,
                           known_hosts=self.known_hosts, jump=jump)

    def peer_ip(self, address: str, ids: IdMap | None) -> str | None:
        """Where other hosts of the stack (a load balancer) reach this one: its private IP, or the
        bound machine's IP."""
        instance = self._instance(address, ids)
        if self.bindings:
            return self._binding(instance["id"], address).get("ip")
        return instance["private_ip"]

    def lb_url(self, address: str, port: int, scheme: str = "http") -> str | None:
        instance = self._instance(address, None)
        if self.bindings:
            ip = self._binding(instance["id"], address).get("ip")
        else:
            ip = instance["public_ip"] or instance["private_ip"]
        return f"{scheme}://{ip}:{port}" if ip else None

    def _instance(self, address: str, ids: IdMap | None) -> dict:
        with self._lock:
            known = self._instances.get(address)
        ident = ids.get(address) if ids is not None else None
        if known and (ident is None or known["id"] == ident):
            return known
        if ident is None:
            raise ProviderError(f"{address} does not exist", where=address, hint="run apply to create it")
        with translate(address):
            found = self.session.client("ec2").describe_instances(InstanceIds=[ident])["Reservations"]
        item = found[0]["Instances"][0]
        known = {"id": ident, "private_ip": item.get("PrivateIpAddress"), "public_ip": item.get("PublicIpAddress")}
        with self._lock:
            self._instances[address] = known
        return known

    def _binding(self, instance_id: str, address: str) -> dict:
        deadline = time.monotonic() + BINDING_WAIT
        while True:
            try:
                with open(self.bindings, encoding="utf-8") as f:
                    bound = json.load(f).get("instances", {}).get(instance_id)
            except (OSError, ValueError):
                bound = None
            if bound and bound.get("state", "running") == "running":
                return bound
            if time.monotonic() >= deadline:
                raise ProviderError(f"no machine is bound to instance {instance_id} after {BINDING_WAIT:.0f}s",
                                    where=address, hint=f"is the binder writing {self.bindings} running?")
            time.sleep(0.2)

    def _pin(self, bound: dict, instance: dict) -> str:
        """A binding names the machine's host key: pin it under the instance id."""
        if bound.get("host_key"):
            KnownHostsFile(self.known_hosts).pin_public(instance["id"], bound["host_key"])
        return self.known_hosts


# vCPUs and memory of common instance types, for placement before a host reports its own
INSTANCE_TYPES = {
    "t3.nano": (2, 0.5), "t3.micro": (2, 1), "t3.small": (2, 2), "t3.medium": (2, 4), "t3.large": (2, 8),
    "t3.xlarge": (4, 16), "t3.2xlarge": (8, 32), "t4g.small": (2, 2), "t4g.medium": (2, 4),
    "m5.large": (2, 8), "m5.xlarge": (4, 16), "m5.2xlarge": (8, 32), "m6i.large": (2, 8), "m6i.xlarge": (4, 16),
    "c5.large": (2, 4), "c5.xlarge": (4, 8), "c6i.large": (2, 4), "r5.large": (2, 16),
}


def template_capacity(sf: StackFile) -> dict[str, dict]:
    out = {}
    for name, tpl in sf.stack.launch_templates.items():
        if tpl.instance_type in INSTANCE_TYPES:
            cpus, gib = INSTANCE_TYPES[tpl.instance_type]
            out[name] = {"cpus": cpus, "memory": int(gib * 1024**3)}
    return out
