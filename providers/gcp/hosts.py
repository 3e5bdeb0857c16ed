"""Reaching Compute Engine instances over SSH: by external IP (the access config's
natIP), else by internal IP, as the template's ``ssh.user`` with the key its
``ssh-keys`` metadata carries; or through a host binding (see ``providers.hosts``).

The local GCE API's instances are not machines, so against a loopback endpoint
iacorch never dials their addresses and reaches hosts only through bindings.
"""

from __future__ import annotations

import re
from typing import Any

from iacorch.errors import ProviderError
from iacorch.provider import IdMap
from iacorch.ssh import HostAddress
from iacorch.stack.load import StackFile
from providers.gcp.apply import locate
from providers.gcp.errors import translate
from providers.gcp.session import GceSession
from providers.hosts import CloudHosts, capacity_table


class GcpHosts(CloudHosts):
    cloud = "the local GCE API"

    def __init__(self, session: GceSession, sf: StackFile) -> None:
        super().__init__(sf)
        self.session = session

    @property
    def local_endpoint(self) -> bool:
        return self.session.local_endpoint

    def name_of(self, ident: str) -> str:
        """An instance's id is its path (projects/P/zones/Z/instances/NAME); names are unique per project
        here (they start with the stack and end in a digest), and make a tidy known_hosts entry."""
        return ident.rsplit("/", 1)[-1]

    def template_capacity(self) -> dict[str, dict]:
        return template_capacity(self.sf)

    def describe(self, address: str, ident: str) -> dict[str, Any]:
        with translate(address, self.session.endpoint):
            item = self.session.call("instances", "get", **locate(ident)[1])
        nic = item.network_interfaces[0] if item.network_interfaces else None
        access = nic.access_configs[0] if nic and nic.access_configs else None
        return self.instance_of(ident, self.name_of(ident), (nic.network_i_p or None) if nic else None,
                                (access.nat_i_p or None) if access else None)

    def direct(self, address: str, instance: dict[str, Any], ids: IdMap | None, user: str, port: int,
               key: str) -> HostAddress:
        host = instance["public_ip"] or instance["private_ip"]
        if not host:
            raise ProviderError(f"instance {instance['name']} has no IP address yet", where=address,
                                hint="run plan again once it is RUNNING")
        return HostAddress(name=address, host=host, port=port, user=user, key_path=key,
                           known_hosts=self.known_hosts)


# vCPUs and memory (GiB) of common machine types, for placement before a host reports its own
MACHINE_TYPES = {
    "e2-micro": (2, 1), "e2-small": (2, 2), "e2-medium": (2, 4),
    "e2-standard-2": (2, 8), "e2-standard-4": (4, 16), "e2-standard-8": (8, 32),
    "e2-highcpu-2": (2, 2), "e2-highcpu-4": (4, 4), "e2-highmem-2": (2, 16),
    "n1-standard-1": (1, 3.75), "n1-standard-2": (2, 7.5), "n1-standard-4": (4, 15),
    "n2-standard-2": (2, 8), "n2-standard-4": (4, 16), "n2-standard-8": (8, 32),
    "n2d-standard-2": (2, 8), "c3-standard-4": (4, 16), "t2d-standard-1": (1, 4),
}
_CUSTOM = re.compile(r"^(?:[a-z0-9]+-)?custom-(?P<cpus>\d+)-(?P<mib>\d+)(?:-ext)?$")


def custom_size(machine_type: str) -> tuple[float, float] | None:
    """``[SERIES-]custom-CPUS-MEMORY_MIB``: custom machine types say their size in their name."""
    m = _CUSTOM.match(machine_type)
    return (int(m["cpus"]), int(m["mib"]) / 1024) if m else None


def template_capacity(sf: StackFile) -> dict[str, dict]:
    return capacity_table(sf, "machine_type", MACHINE_TYPES, custom_size)
