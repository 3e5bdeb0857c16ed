"""The pure half of the local provider: a stack -> one Docker network and VM containers."""

from __future__ import annotations

from typing import Mapping

from iacorch.resources import KindSpec, Resource
from iacorch.stack.model import Stack

NETWORK = "network.main"

KINDS: dict[str, KindSpec] = {k.kind: k for k in (
    KindSpec("docker_network", replace_fields=frozenset({"name", "subnet"}), label="Docker network"),
    # a VM keeps its name (its hostname and known_hosts alias), so a new one comes after the old goes
    KindSpec("vm", replace_fields=frozenset({"name", "image", "network", "publish"}), label="VM container"),
)}


def network_name(stack: str) -> str:
    return f"iacorch-{stack}"


def vm_name(stack: str, group: str, index: int) -> str:
    return f"iacorch-{stack}-{group}-{index}"


class LocalModel:
    name = "local"
    kinds: Mapping[str, KindSpec] = KINDS

    def __init__(self, base_image: str) -> None:
        self.base_image = base_image

    def infrastructure(self, stack: Stack) -> list[Resource]:
        subnet = stack.network.vpc.cidr if stack.network else None
        return [Resource(NETWORK, "docker_network", {"name": network_name(stack.stack), "subnet": subnet})]

    def instance(self, stack: Stack, group: str, index: int) -> Resource:
        tpl = stack.launch_templates[stack.groups[group].template]
        # the ports its load balancers listen on, published on 127.0.0.1 so this machine reaches them
        publish = sorted({port for lb in stack.load_balancers.values() if lb.group == group
                          for port in (lb.listen, *((lb.tls.port,) if lb.tls else ()))})
        return Resource(f"group.{group}[{index}]", "vm", {
            "name": vm_name(stack.stack, group, index), "image": self.base_image, "network": NETWORK,
            "cpus": tpl.cpus, "memory": tpl.memory, "publish": publish, "state": "running",
        }, deps=(NETWORK,))
