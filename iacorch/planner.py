"""plan(Stack, Observed) -> Plan. Pure: no I/O, no clock, no SDK.

The provider's model translates the stack into desired resources; this module
decides how many instances each group has, diffs desired against observed
field by field, propagates replacements to what refers to them, orders rolling
replacements and records dependency edges.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from iacorch.addresses import group_of, instance_address, parse_instance_address
from iacorch.dag import CycleError, address_edges, graph
from iacorch.rolling import assign_batches, rolling_notes
from iacorch.plan import Action, Change, FieldChange, Plan
from iacorch.resources import KindSpec, Layer, Observed, ObservedResource, ProviderModel, Resource, references
from iacorch.stack.model import Stack

@dataclass(frozen=True)
class Steering:
    """What the control loop decides on top of the stack file: instance indices of autoscaled
    groups (within min..max), and instances to replace (a host that stopped answering)."""

    groups: Mapping[str, list[int]] = field(default_factory=dict)
    replace: frozenset[str] = frozenset()
    reasons: Mapping[str, str] = field(default_factory=dict)  # address -> why it is replaced


def plan(stack: Stack, observed: Observed, model: ProviderModel, *, destroy: bool = False,
         layers: Iterable[Layer] = (), source: Mapping[str, Any] | None = None,
         steering: Steering = Steering()) -> Plan:
    """Compute the changes that make ``observed`` match ``stack`` (or nothing, for destroy).

    ``layers`` add desired resources on top of the instances (Docker, images,
    containers, load balancers); they go through the same diff.
    """
    layers = list(layers)
    all_kinds = {**model.kinds}
    for layer in layers:
        all_kinds.update(layer.kinds)
    notes: list[str] = []
    desired: list[Resource] = []
    if not destroy:
        desired = list(model.infrastructure(stack))
        hosts: dict[str, list[str]] = {}
        for gname, group in stack.groups.items():
            indices, note = group_indices(gname, group, observed, steering.groups.get(gname))
            if note:
                notes.append(note)
            hosts[gname] = [instance_address(gname, i) for i in indices]
            desired.extend(model.instance(stack, gname, i) for i in indices)
        for layer in layers:
            more, layer_notes = layer.desired(stack, hosts, observed, list(desired))
            desired.extend(more)
            notes.extend(layer_notes)
    changes = _diff_all(desired, observed, all_kinds)
    changes = _forced(changes, steering)
    changes = _gone_with_their_host(changes)
    changes = _propagate_replacements(changes, desired, all_kinds)
    changes = _order(changes, stack, notes, all_kinds)
    return Plan(stack=stack.stack, provider=stack.provider_kind, changes=tuple(changes),
                observed_fingerprint=observed.fingerprint(), notes=tuple(notes), destroy=destroy,
                source=dict(source or {}))


def group_indices(name: str, group: Any, observed: Observed,
                  chosen: list[int] | None = None) -> tuple[list[int], str | None]:
    """Which instance indices the group should have.

    Existing indices are kept (lowest first) and gaps are filled from the
    bottom, so a replacement keeps its address and subnet. With autoscaling
    on, a count between min and max belongs to the control loop and is kept;
    ``chosen`` is the loop's own choice of indices (within min..max).
    """
    existing = sorted(idx for addr in observed.resources
                      if (parsed := parse_instance_address(addr)) and parsed[0] == name
                      for idx in [parsed[1]])
    size = group.size
    note = None
    autoscaled = group.autoscale is not None and group.autoscale.enabled
    if autoscaled and chosen is not None and size.min <= len(chosen) <= size.max:
        return sorted(chosen), f"group.{name}: autoscaled: {len(chosen)} ({size.min}..{size.max})"
    if autoscaled and existing:
        count = min(max(len(existing), size.min), size.max)
        note = f"group.{name}: autoscaled: {count} ({size.min}..{size.max})"
    else:
        count = size.target
    keep = existing[:count]
    free = (i for i in range(count + len(existing) + 1) if i not in set(keep))
    while len(keep) < count:
        keep.append(next(free))
    return sorted(keep), note


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def diff(want: Resource, have: ObservedResource | None, spec: KindSpec) -> Change:
    cbd = spec.create_before_destroy if want.create_before_destroy is None else want.create_before_destroy
    common = dict(address=want.address, kind=want.kind, after=dict(want.attrs), deps=want.deps,
                  create_before_destroy=cbd)
    if have is None:
        fields = tuple(FieldChange(k, None, v) for k, v in want.attrs.items())
        return Change(action=Action.CREATE, fields=fields, reason="not found, will be created", **common)
    fields = []
    for name in want.attrs:  # only what we manage; an attribute we leave unset is not drift
        before, after = have.attrs.get(name), want.attrs.get(name)
        if name in spec.set_fields:
            b = {_canonical(x): x for x in before or []}
            a = {_canonical(x): x for x in after or []}
            if b.keys() == a.keys():
                continue
            fields.append(FieldChange(name, before, after, name in spec.replace_fields,
                                      added=tuple(a[k] for k in sorted(a.keys() - b.keys())),
                                      removed=tuple(b[k] for k in sorted(b.keys() - a.keys()))))
        elif _canonical(before) != _canonical(after):
            fields.append(FieldChange(name, before, after, name in spec.replace_fields))
    common.update(before=dict(have.attrs), id=have.id, old_deps=have.deps)
    if not fields:
        return Change(action=Action.NOOP, **common)
    forced = [f.name for f in fields if f.forces_replace]
    if forced:
        return Change(action=Action.REPLACE, fields=tuple(fields),
                      reason=f"{', '.join(forced)} changed, which forces replacement", **common)
    return Change(action=Action.UPDATE, fields=tuple(fields),
                  reason=f"{', '.join(f.name for f in fields)} changed", **common)


def _diff_all(desired: list[Resource], observed: Observed, kinds: Mapping[str, KindSpec]) -> list[Change]:
    changes = []
    wanted = set()
    for res in desired:
        wanted.add(res.address)
        have = observed.resources.get(res.address)
        if have is not None and have.kind != res.kind:
            changes.append(Change(address=res.address, kind=have.kind, action=Action.DELETE,
                                  before=dict(have.attrs), id=have.id, old_deps=have.deps,
                                  reason=f"was a {have.kind}, now a {res.kind}"))
            have = None
        changes.append(diff(res, have, kinds[res.kind]))
    for address, have in sorted(observed.resources.items()):
        if address not in wanted:
            changes.append(Change(address=address, kind=have.kind, action=Action.DELETE,
                                  before=dict(have.attrs), id=have.id, old_deps=have.deps,
                                  reason="no longer in the stack"))
    return changes


def _forced(changes: list[Change], steering: Steering) -> list[Change]:
    """Instances the control loop replaces although nothing in them changed."""
    out = []
    for c in changes:
        if c.address in steering.replace and c.action in (Action.NOOP, Action.UPDATE):
            why = steering.reasons.get(c.address, "the control loop replaces it")
            c = c.with_(action=Action.REPLACE, reason=why, fields=c.fields or (
                FieldChange("id", c.id, None, True),))
        out.append(c)
    return out


def _gone_with_their_host(changes: list[Change]) -> list[Change]:
    """What lives on a host that is deleted goes with it: no step of its own."""
    leaving = {c.address for c in changes if c.action is Action.DELETE and parse_instance_address(c.address)}
    return [c for c in changes
            if not (c.action is Action.DELETE and (c.before or {}).get("host") in leaving)]


def _propagate_replacements(changes: list[Change], desired: list[Resource],
                            kinds: Mapping[str, KindSpec]) -> list[Change]:
    """A replaced resource gets a new id: whatever refers to it must follow.

    A reference in a field that forces replacement replaces the referrer;
    otherwise the referrer is updated to point at the new resource. A
    replacement that must destroy first makes its dependents destroy first too.
    """
    by_addr = {c.address: i for i, c in enumerate(changes) if c.action is not Action.DELETE}
    desired_by_addr = {r.address: r for r in desired}
    destroy_first = {c.address for c in changes
                     if c.action is Action.REPLACE and not c.create_before_destroy}
    replaced = {c.address for c in changes if c.action is Action.REPLACE}
    progress = True
    while progress:
        progress = False
        for address, i in by_addr.items():
            change = changes[i]
            res = desired_by_addr.get(address)
            if res is None or change.action is Action.CREATE:
                continue
            hit = replaced.intersection(res.deps)
            if not hit:
                continue
            spec = kinds[res.kind]
            names = references(res.attrs, hit)
            if not names:
                continue  # a dependency for ordering only: nothing here holds the replaced one's id
            hit = {h for h in hit if references(res.attrs, {h})}
            via = ", ".join(sorted(hit))
            if change.action is not Action.REPLACE and names & spec.replace_fields:
                extra = tuple(FieldChange(n, res.attrs[n], res.attrs[n], True) for n in sorted(names)
                              if n not in {f.name for f in change.fields})
                change = change.with_(action=Action.REPLACE, fields=change.fields + extra,
                                      reason=f"{via} is replaced, which forces replacement")
                replaced.add(address)
                progress = True
            elif change.action is Action.NOOP:
                extra = tuple(FieldChange(n, res.attrs[n], res.attrs[n]) for n in sorted(names))
                change = change.with_(action=Action.UPDATE, fields=extra,
                                      reason=f"{via} is replaced; will point at the new one")
                progress = True
            if change.action is Action.REPLACE and change.create_before_destroy and hit & destroy_first:
                change = change.with_(create_before_destroy=False,
                                      reason=change.reason + f"; destroyed first because {via} is")
                destroy_first.add(address)
                progress = True
            changes[i] = change
    return changes


def _order(changes: list[Change], stack: Stack, notes: list[str],
           kinds: Mapping[str, KindSpec]) -> list[Change]:
    """Batches for rolling instance replacement, then dependency edges from the step graph.

    Where the order closes a cycle (a new resource needs what only exists once
    an old one is gone), a create-before-destroy replacement in the cycle is
    destroyed first; if that is not enough, its rolling order is dropped, and
    last, an old resource is deleted before referrers are updated away from it
    (its delete detaches them).
    """
    changes = assign_batches(changes, stack)
    while True:
        try:
            edges = address_edges(graph(changes, group_of, kinds))
            break
        except CycleError as exc:
            stuck = {addr for addr, _ in exc.stuck}
            flip = [i for i, c in enumerate(changes) if c.address in stuck
                    and c.action is Action.REPLACE and c.create_before_destroy]
            unbatch = [i for i, c in enumerate(changes) if c.address in stuck and c.batch]
            detach = [i for i, c in enumerate(changes) if (c.address, "delete") in exc.stuck and not c.detach
                      and any((d, "update") in exc.stuck for d in stuck)]
            if flip:
                for i in flip:
                    changes[i] = changes[i].with_(
                        create_before_destroy=False,
                        reason=changes[i].reason + "; destroyed first, as its replacement needs what it holds")
            elif unbatch:
                for i in unbatch:
                    changes[i] = changes[i].with_(batch=0)
            elif detach:
                for i in detach:
                    changes[i] = changes[i].with_(
                        detach=True, reason=changes[i].reason + "; detached from what refers to it as it goes")
            else:
                raise
    notes.extend(rolling_notes(changes, stack))
    return [c.with_(depends_on=tuple(sorted(edges.get(c.address, ())))) if c.action is not Action.NOOP else c
            for c in changes]
