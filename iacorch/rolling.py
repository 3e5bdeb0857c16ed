"""Rolling replacement, planned: which replacements go together (batches) and in which order.

Instances of a group are replaced ``max_surge`` at a time, each new one up before
an old one goes. Replicas of a service follow ``update``: in each batch, up to
``max_surge`` start first (the new release beside the old) and up to
``max_unavailable`` stop first; ``order: stop-first`` makes all of them stop
first; ``strategy: recreate`` stops them all, then starts them all. The executor
runs batch n of a unit only when batch n-1 is done. Pure.
"""

from __future__ import annotations

from iacorch.addresses import group_of, parse_instance_address, parse_replica_address
from iacorch.plan import Action, Change
from iacorch.stack.model import Stack
from iacorch.stack.units import resolve_count


def _unit_of(address: str) -> tuple[str, str, int] | None:
    """("group"|"service", name, index) of an instance or replica address."""
    parsed = parse_instance_address(address)
    if parsed:
        return ("group", *parsed)
    parsed = parse_replica_address(address)
    return ("service", *parsed) if parsed else None


def replaced_by_unit(changes: list[Change]) -> dict[tuple[str, str], list[Change]]:
    units: dict[tuple[str, str], list[tuple[int, Change]]] = {}
    for c in changes:
        unit = _unit_of(c.address)
        if unit and c.action is Action.REPLACE:
            units.setdefault(unit[:2], []).append((unit[2], c))
    return {u: [c for _, c in sorted(items, key=lambda t: t[0])] for u, items in sorted(units.items())}


def service_window(stack: Stack, name: str) -> tuple[int, int]:
    """(start-first, stop-first) replicas per batch for a service's update policy."""
    svc = stack.services[name]
    update = svc.update
    total = svc.replicas if svc.mode == "replicated" else max(1, svc.replicas)
    surge = resolve_count(update.max_surge, total, round_up=True)
    unavailable = resolve_count(update.max_unavailable, total, round_up=False)
    if update.order == "stop-first":
        return 0, max(1, surge + unavailable)
    return (max(1, surge), unavailable) if surge or not unavailable else (0, unavailable)


def assign_batches(changes: list[Change], stack: Stack) -> list[Change]:
    out = {c.address: c for c in changes}
    for (kind, name), items in replaced_by_unit(changes).items():
        if kind == "group":
            group = stack.groups.get(name)
            surge = group.max_surge if group else 1
            for n, c in enumerate(items):
                out[c.address] = c.with_(batch=n // surge + 1)
            continue
        if name not in stack.services:
            continue
        if stack.services[name].update.strategy == "recreate":
            for c in items:
                out[c.address] = c.with_(batch=0, create_before_destroy=False)
            continue
        start_first, stop_first = service_window(stack, name)
        size = start_first + stop_first
        for n, c in enumerate(items):
            position = n % size
            # a replica with fixed host ports cannot have two instances at once: it stops first anyway
            cbd = c.create_before_destroy and position < start_first
            out[c.address] = c.with_(batch=n // size + 1, create_before_destroy=cbd)
    return [out[c.address] for c in changes]


def rolling_notes(changes: list[Change], stack: Stack) -> list[str]:
    notes = []
    for (kind, name), items in replaced_by_unit(changes).items():
        if kind == "service":
            notes.append(_service_note(stack, name, items))
            continue
        group = stack.groups.get(name)
        surge = group.max_surge if group else 1
        minimum = group.size.min if group else 0
        if not any(c.batch for c in items):
            notes.append(f"group.{name}: {len(items)} instance(s) replaced together: their new subnets "
                         f"exist only once the old instances are gone; capacity drops meanwhile")
        elif all(c.create_before_destroy for c in items):
            notes.append(f"group.{name}: rolling replace of {len(items)} instance(s), {surge} at a time, "
                         f"each new instance up before an old one goes; never below min {minimum}")
        else:
            live = sum(1 for c in changes if group_of(c.address) == name and c.action is not Action.CREATE)
            low = live - min(surge, len(items))
            below = f"below min {minimum}" if low < minimum else f"not below min {minimum}"
            notes.append(f"group.{name}: {len(items)} instance(s) must be destroyed before they are "
                         f"recreated, {surge} at a time; capacity drops to {low} meanwhile ({below})")
    return notes


def _service_note(stack: Stack, name: str, items: list[Change]) -> str:
    svc = stack.services.get(name)
    if svc is None:
        return f"service.{name}: {len(items)} replica(s) replaced"
    if svc.update.strategy == "recreate":
        return f"service.{name}: recreate: all {len(items)} replica(s) stop, then the new release starts"
    batches = max(c.batch for c in items)
    start_first = sum(1 for c in items if c.create_before_destroy)
    floor = svc.replicas - max((sum(1 for c in items if c.batch == b and not c.create_before_destroy)
                                for b in range(1, batches + 1)), default=0)
    how = ("each new release healthy before its old one is drained" if start_first == len(items)
           else f"{len(items) - start_first} stopped before their new release starts")
    return (f"service.{name}: rolling update of {len(items)} replica(s) in {batches} batch(es), {how}; "
            f"never fewer than {floor} serving")
