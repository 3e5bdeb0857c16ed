"""IP addresses for network interfaces.

Internal addresses come from the subnetwork's range, skipping the four GCE
reserves (network, gateway, second-to-last, broadcast). Ephemeral external
addresses come from the RFC 5737 documentation ranges, handed out round-robin
so a restarted instance gets a different one, as on GCE: they are fake, unique
across the server, and must never be dialled.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from .dependents import instances_attached
from .errors import OperationError, invalid_usage
from .references import path_from_url

if TYPE_CHECKING:
    from .world import World

EXTERNAL_RANGES = ("203.0.113.0/24", "198.51.100.0/24", "192.0.2.0/24")
EXTERNAL_POOL = tuple(
    str(address) for cidr in EXTERNAL_RANGES for address in ipaddress.IPv4Network(cidr).hosts()
)


def internal_ip(world: World, project: str, subnetwork: dict, requested: str | None) -> str | OperationError:
    """The requested address if it is free, else the lowest free one."""
    network = ipaddress.IPv4Network(subnetwork["ipCidrRange"])
    reserved = {network[0], network[1], network[-2], network[-1]}
    path = path_from_url(subnetwork["selfLink"])
    used = {
        interface["networkIP"]
        for instance in instances_attached(world, project, "subnetwork", path)
        for interface in instance["networkInterfaces"]
        if interface["subnetwork"] == subnetwork["selfLink"]
    }
    if requested is not None:
        address = ipaddress.IPv4Address(requested)
        if address not in network or address in reserved or requested in used:
            return invalid_usage(f"IP address '{requested}' is not free in subnetwork '{path}'.")
        return requested
    for address in network:
        if address not in reserved and str(address) not in used:
            return str(address)
    return OperationError("IP_SPACE_EXHAUSTED", f"IP space of '{path}' is exhausted.", 400)


def external_ip(world: World, taken: set[str]) -> str | OperationError:
    """A free ephemeral external address; `taken` holds ones already chosen in this operation."""
    used = taken | {
        access["natIP"]
        for instance in world.items_everywhere("instances")
        for interface in instance["networkInterfaces"]
        for access in interface.get("accessConfigs", [])
        if "natIP" in access
    }
    for offset in range(len(EXTERNAL_POOL)):
        index = (world.external_ip_cursor + offset) % len(EXTERNAL_POOL)
        if EXTERNAL_POOL[index] not in used:
            world.external_ip_cursor = index + 1
            return EXTERNAL_POOL[index]
    return OperationError("IP_SPACE_EXHAUSTED", "No ephemeral external IP addresses are left.", 400)
