"""Which resources refer to a network or subnetwork, and so keep it from being deleted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .references import url

if TYPE_CHECKING:
    from .world import World


def subnetworks_of(world: World, project: str, network_path: str) -> list[dict]:
    link = url(network_path)
    return [
        subnetwork
        for subnetworks in world.items_across(project, "regions", "subnetworks").values()
        for subnetwork in subnetworks
        if subnetwork["network"] == link
    ]


def firewalls_of(world: World, project: str, network_path: str) -> list[dict]:
    link = url(network_path)
    return [
        firewall
        for firewall in world.items(f"projects/{project}/global/firewalls")
        if firewall["network"] == link
    ]


def instances_attached(world: World, project: str, field: str, path: str) -> list[dict]:
    """Instances with a network interface whose `field` ("network" or "subnetwork") is `path`."""
    link = url(path)
    return [
        instance
        for instances in world.items_across(project, "zones", "instances").values()
        for instance in instances
        if any(interface.get(field) == link for interface in instance["networkInterfaces"])
    ]
