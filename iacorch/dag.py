"""The step graph of a plan: which step waits for which. Pure.

A REPLACE becomes two steps, create and delete, ordered by the resource's
replacement strategy. A new or updated resource waits for what it refers to.
An old resource is deleted only after whatever referred to it has let go:
referrers being deleted or replaced go first, and so do referrers being
updated away from it (unless it is replaced destroy-first, when the referrer
is updated to the new one afterwards). Rolling batches of a group wait for
the previous batch.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from iacorch.errors import IacorchError
from iacorch.plan import Action, Change
from iacorch.provider import Step
from iacorch.resources import KindSpec, conflicts

Key = tuple[str, str]
_OPS = {Action.CREATE: ("create",), Action.UPDATE: ("update",), Action.DELETE: ("delete",),
        Action.REPLACE: ("create", "delete")}


def steps_of(changes: Iterable[Change]) -> dict[Key, Step]:
    steps: dict[Key, Step] = {}
    for c in changes:
        for op in _OPS.get(c.action, ()):
            step = Step(op, c)  # type: ignore[arg-type]
            steps[step.key] = step
    return steps


class CycleError(IacorchError):
    def __init__(self, stuck: list[Key]) -> None:
        self.stuck = stuck
        super().__init__("the plan has a dependency cycle between: "
                         + ", ".join(f"{op} {addr}" for addr, op in stuck[:8]))


def graph(changes: Iterable[Change], group_of=lambda address: None,
          kinds: Mapping[str, KindSpec] | None = None) -> dict[Key, set[Key]]:
    """For each step, the steps it waits for. ``group_of`` maps an address to its
    rolling group (or None), for batch ordering; ``kinds`` gives exclusive fields."""
    acting = [c for c in changes if c.action is not Action.NOOP]
    by_addr = {c.address: c for c in acting}
    steps = steps_of(acting)
    waits: dict[Key, set[Key]] = {k: set() for k in steps}
    for c in acting:
        a = c.address
        mine = (a, "create") if (a, "create") in steps else (a, "update")
        if mine in steps:
            for dep in c.deps:
                for op in ("create", "update"):
                    if (dep, op) in steps and dep != a:
                        waits[mine].add((dep, op))
        if c.action is Action.REPLACE:
            if c.create_before_destroy:
                waits[(a, "delete")].add((a, "create"))
            else:
                waits[(a, "create")].add((a, "delete"))
    for c in acting:
        for dep in c.old_deps:
            target = by_addr.get(dep)
            if target is None or dep == c.address or (dep, "delete") not in steps:
                continue
            destroy_first = target.action is Action.REPLACE and not target.create_before_destroy
            ops = ("delete",) if destroy_first or target.detach else ("delete", "update")
            for op in ops:
                if (c.address, op) in steps:
                    waits[(dep, "delete")].add((c.address, op))
    for c in acting:  # a new resource waits for the old holder of an exclusive value to go
        spec = (kinds or {}).get(c.kind)
        if spec is None or not spec.exclusive_fields or (c.address, "create") not in steps:
            continue
        for other in acting:
            if other.kind != c.kind or (other.address, "delete") not in steps or other.address == c.address:
                continue
            if any(conflicts((c.after or {}).get(f), (other.before or {}).get(f)) for f in spec.exclusive_fields):
                waits[(c.address, "create")].add((other.address, "delete"))
    batches: dict[tuple[str, int], list[str]] = {}
    for c in acting:
        group = group_of(c.address)
        if group is not None and c.batch:
            batches.setdefault((group, c.batch), []).append(c.address)
    for (group, n), members in batches.items():
        for prev in batches.get((group, n - 1), ()):
            for a in members:
                first = (a, "create") if by_addr[a].create_before_destroy else (a, "delete")
                waits[first].add((prev, "delete"))
                waits[first].add((prev, "create"))
    check_acyclic(waits)
    return waits


def address_edges(waits: dict[Key, set[Key]]) -> dict[str, set[str]]:
    """The same graph between addresses (for the plan's depends_on and `graph`)."""
    out: dict[str, set[str]] = {}
    for (addr, _), deps in waits.items():
        out.setdefault(addr, set()).update(d for d, _ in deps if d != addr)
    return out


def check_acyclic(waits: dict[Key, set[Key]]) -> None:
    indegree = {k: len(v) for k, v in waits.items()}
    users: dict[Key, list[Key]] = {}
    for k, deps in waits.items():
        for d in deps:
            users.setdefault(d, []).append(k)
    ready = [k for k, n in indegree.items() if n == 0]
    seen = 0
    while ready:
        k = ready.pop()
        seen += 1
        for u in users.get(k, ()):
            indegree[u] -= 1
            if indegree[u] == 0:
                ready.append(u)
    if seen != len(waits):
        raise CycleError(sorted(k for k, n in indegree.items() if n))
