"""What the planner compares: desired resources (from the stack, via a
provider's pure model) and observed resources (found by ownership tags).

Attributes are plain JSON data. References to other resources are written as
their addresses (``"subnet.public-a"``), never as cloud ids, so a plan reads
the same before and after anything exists; ids are resolved at apply time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Protocol


@dataclass(frozen=True)
class KindSpec:
    """How the planner treats one kind of resource.

    ``replace_fields`` force a replacement when they change; other changed
    fields are updated in place. ``set_fields`` hold lists compared as sets
    (security group rules, route table associations) and are shown item by item.
    ``create_before_destroy`` says how a replacement is ordered.
    ``exclusive_fields`` hold values two resources of the kind cannot share at
    once (a subnet's CIDR): a new one waits until an old holder is deleted.
    """

    kind: str
    replace_fields: frozenset[str] = frozenset()
    set_fields: frozenset[str] = frozenset()
    create_before_destroy: bool = False
    label: str = ""  # what people call it, e.g. "EC2 instance"
    exclusive_fields: frozenset[str] = frozenset()  # values no two live resources may share (CIDRs overlap)


@dataclass(frozen=True)
class Resource:
    """A desired resource. ``create_before_destroy`` overrides its kind's default."""

    address: str
    kind: str
    attrs: Mapping[str, Any]
    deps: tuple[str, ...] = ()
    create_before_destroy: bool | None = None


@dataclass(frozen=True)
class ObservedResource:
    """A resource that exists and carries our tags."""

    address: str
    kind: str
    id: str
    attrs: Mapping[str, Any]
    deps: tuple[str, ...] = ()


@dataclass(frozen=True)
class Observed:
    """Everything observed for one stack, keyed by address.

    ``hosts`` holds per-host facts the planner reads (reachability, Docker,
    capacity) and is part of the fingerprint; ``runtime`` holds what changes
    from second to second (health, sessions, ports) for status and rollouts,
    and is not, so a saved plan does not go stale because a check ran.
    """

    stack: str
    provider: str
    resources: Mapping[str, ObservedResource] = field(default_factory=dict)
    hosts: Mapping[str, Any] = field(default_factory=dict)
    runtime: Mapping[str, Any] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """Changes whenever anything the planner reads changes."""
        body = {
            "resources": {a: {"id": r.id, "kind": r.kind, "attrs": r.attrs, "deps": list(r.deps)}
                          for a, r in sorted(self.resources.items())},
            "hosts": self.hosts,
        }
        return digest(body)

    def of_kind(self, kind: str) -> list[ObservedResource]:
        return [r for r in self.resources.values() if r.kind == kind]


def digest(data: Any, length: int = 16) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=_jsonable)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    if hasattr(value, "__dataclass_fields__"):
        return {k: getattr(value, k) for k in value.__dataclass_fields__}
    raise TypeError(f"not JSON data: {type(value).__name__}")


def conflicts(a: Any, b: Any) -> bool:
    """Two values of an exclusive field clash: equal, or overlapping networks."""
    import ipaddress

    if isinstance(a, str) and isinstance(b, str) and "/" in a and "/" in b:
        try:
            return ipaddress.ip_network(a).overlaps(ipaddress.ip_network(b))
        except ValueError:
            pass
    return a == b


def references(attrs: Mapping[str, Any], addresses: Iterable[str]) -> set[str]:
    """Which attribute names refer to any of ``addresses``."""
    wanted = set(addresses)
    found: set[str] = set()
    for name, value in attrs.items():
        if _mentions(value, wanted):
            found.add(name)
    return found


def _mentions(value: Any, wanted: set[str]) -> bool:
    if isinstance(value, str):
        return value in wanted
    if isinstance(value, Mapping):
        return any(_mentions(v, wanted) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_mentions(v, wanted) for v in value)
    return False


class Layer(Protocol):
    """A pure layer on top of the instances (hosts, load balancers): more desired resources."""

    kinds: Mapping[str, KindSpec]

    def desired(self, stack: Any, hosts: Mapping[str, list[str]], observed: Observed,
                below: list[Resource] | None = None) -> tuple[list[Resource], list[str]]:
        """Desired resources and notes, given each group's instance addresses and what the
        layers below want (a load balancer reads where the replicas are placed)."""


class ProviderModel(Protocol):
    """The pure half of a provider: stack -> desired resources. No SDK, no I/O."""

    name: str
    kinds: Mapping[str, KindSpec]

    def infrastructure(self, stack: Any) -> list[Resource]:
        """Every desired resource except group instances."""

    def instance(self, stack: Any, group: str, index: int) -> Resource:
        """The desired instance ``group.<group>[index]``."""


def observed_to_json(observed: Observed) -> dict[str, Any]:
    return {
        "stack": observed.stack, "provider": observed.provider,
        "resources": {a: {"kind": r.kind, "id": r.id, "attrs": dict(r.attrs), "deps": list(r.deps)}
                      for a, r in sorted(observed.resources.items())},
        "hosts": dict(observed.hosts),
    }


def observed_from_json(data: Mapping[str, Any]) -> Observed:
    return Observed(
        stack=data["stack"], provider=data["provider"],
        resources={a: ObservedResource(a, r["kind"], r["id"], r["attrs"], tuple(r.get("deps", ())))
                   for a, r in data.get("resources", {}).items()},
        hosts=data.get("hosts", {}))
