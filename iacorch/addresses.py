"""Addresses: how resources are named in plans, and what they say about themselves.

``group.app[2]`` is instance 2 of group app; ``service.web[3]`` is replica 3 of service
web (``service.web[3]~TAG`` another instance of it: an interrupted rollout's).
"""

from __future__ import annotations

import re

_INSTANCE = re.compile(r"^group\.(?P<group>[a-z0-9-]+)\[(?P<index>\d+)\]$")


def instance_address(group: str, index: int) -> str:
    return f"group.{group}[{index}]"


def parse_instance_address(address: str) -> tuple[str, int] | None:
    m = _INSTANCE.match(address)
    return (m.group("group"), int(m.group("index"))) if m else None


def group_of(address: str) -> str | None:
    """The unit a rolling replacement is batched in: an instance's group, a replica's service."""
    parsed = parse_instance_address(address)
    if parsed:
        return parsed[0]
    replica = parse_replica_address(address)
    return f"service.{replica[0]}" if replica else None


_REPLICA = re.compile(r"^service\.(?P<service>[a-z0-9-]+)\[(?P<index>\d+)\]$")


def parse_replica_address(address: str) -> tuple[str, int] | None:
    m = _REPLICA.match(address)
    return (m.group("service"), int(m.group("index"))) if m else None
