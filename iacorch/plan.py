"""The plan: plain data, rendered as a diff or JSON, saved and re-applied exactly."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

FORMAT_VERSION = 1


class Action(str, enum.Enum):
    NOOP = "noop"
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"


@dataclass(frozen=True)
class FieldChange:
    """One attribute's change. For set-like fields, ``added``/``removed`` list the items."""

    name: str
    before: Any
    after: Any
    forces_replace: bool = False
    added: tuple[Any, ...] = ()
    removed: tuple[Any, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out = {"name": self.name, "before": self.before, "after": self.after,
               "forces_replace": self.forces_replace}
        if self.added or self.removed:
            out["added"] = list(self.added)
            out["removed"] = list(self.removed)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "FieldChange":
        return cls(name=data["name"], before=data.get("before"), after=data.get("after"),
                   forces_replace=bool(data.get("forces_replace")),
                   added=tuple(data.get("added", ())), removed=tuple(data.get("removed", ())))


@dataclass(frozen=True)
class Change:
    """What happens to one address. ``before`` is observed, ``after`` desired.

    ``reason`` is for people; nothing decides on it. ``depends_on`` lists the
    addresses whose changes must finish first. ``id`` is the observed cloud id.
    ``batch`` orders rolling replacements within a group (0 = no batching).
    ``detach`` lets the old resource go before referrers are updated away from
    it (the provider's delete detaches them); the planner sets it only to break
    a cycle such as a subnet whose CIDR is taken over by a new one.
    """

    address: str
    kind: str
    action: Action
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    fields: tuple[FieldChange, ...] = ()
    reason: str = ""
    depends_on: tuple[str, ...] = ()
    deps: tuple[str, ...] = ()  # desired references (addresses) of the new resource
    old_deps: tuple[str, ...] = ()  # references of the observed resource
    id: str | None = None
    create_before_destroy: bool = False
    batch: int = 0
    detach: bool = False  # delete without waiting for referrers to be updated away; the delete detaches

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address, "kind": self.kind, "action": self.action.value,
            "reason": self.reason, "id": self.id, "before": self.before, "after": self.after,
            "fields": [f.to_json() for f in self.fields], "depends_on": list(self.depends_on),
            "deps": list(self.deps), "old_deps": list(self.old_deps),
            "create_before_destroy": self.create_before_destroy, "batch": self.batch, "detach": self.detach,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Change":
        return cls(
            address=data["address"], kind=data["kind"], action=Action(data["action"]),
            before=data.get("before"), after=data.get("after"),
            fields=tuple(FieldChange.from_json(f) for f in data.get("fields", ())),
            reason=data.get("reason", ""), depends_on=tuple(data.get("depends_on", ())),
            deps=tuple(data.get("deps", ())), old_deps=tuple(data.get("old_deps", ())),
            id=data.get("id"), create_before_destroy=bool(data.get("create_before_destroy")),
            batch=int(data.get("batch", 0)), detach=bool(data.get("detach")))

    def with_(self, **kwargs: Any) -> "Change":
        return replace(self, **kwargs)


@dataclass(frozen=True)
class Plan:
    stack: str
    provider: str
    changes: tuple[Change, ...]
    observed_fingerprint: str
    notes: tuple[str, ...] = ()
    destroy: bool = False
    source: Mapping[str, Any] = field(default_factory=dict)  # the stack it was planned from

    @property
    def actionable(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action is not Action.NOOP)

    @property
    def has_changes(self) -> bool:
        return bool(self.actionable)

    def summary(self) -> dict[str, int]:
        counts = {"add": 0, "change": 0, "replace": 0, "destroy": 0}
        key = {Action.CREATE: "add", Action.UPDATE: "change", Action.REPLACE: "replace",
               Action.DELETE: "destroy"}
        for c in self.actionable:
            counts[key[c.action]] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION, "stack": self.stack, "provider": self.provider,
            "destroy": self.destroy, "observed_fingerprint": self.observed_fingerprint,
            "summary": self.summary(), "notes": list(self.notes),
            "changes": [c.to_json() for c in self.actionable], "source": dict(self.source),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Plan":
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported plan format {data.get('format_version')!r}")
        return cls(stack=data["stack"], provider=data["provider"],
                   changes=tuple(Change.from_json(c) for c in data["changes"]),
                   observed_fingerprint=data["observed_fingerprint"], notes=tuple(data.get("notes", ())),
                   destroy=bool(data.get("destroy")), source=data.get("source", {}))
