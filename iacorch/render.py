"""Plans as people read them: a Terraform-like diff with a summary line."""

from __future__ import annotations

import json
from typing import Any

from iacorch.plan import Action, Change, Plan

SYMBOL = {Action.CREATE: "+", Action.UPDATE: "~", Action.REPLACE: "-/+", Action.DELETE: "-"}
COLOR = {Action.CREATE: "green", Action.UPDATE: "yellow", Action.REPLACE: "magenta", Action.DELETE: "red"}
_ANSI = {"green": "32", "yellow": "33", "magenta": "35", "red": "31", "bold": "1", "dim": "2"}


def paint(text: str, color: str, enabled: bool) -> str:
    return f"\033[{_ANSI[color]}m{text}\033[0m" if enabled else text


def value(v: Any) -> str:
    if isinstance(v, str):
        return json.dumps(v)
    if v is None:
        return "null"
    return json.dumps(v, sort_keys=True, separators=(", ", ": "))


def short_id(ident: str) -> str:
    """Docker's 64-hex ids read like its own CLI shows them."""
    if len(ident) == 64 and all(ch in "0123456789abcdef" for ch in ident):
        return ident[:12]
    return ident


def render_plan(plan: Plan, *, color: bool = False) -> str:
    lines: list[str] = []
    changes = plan.actionable
    if not changes:
        lines.append(f"No changes. Stack {plan.stack!r} matches what exists.")
        lines.extend(f"  note: {n}" for n in plan.notes)
        return "\n".join(lines) + "\n"
    what = "destroy" if plan.destroy else "apply"
    lines.append(f"iacorch will {what} these changes to stack {plan.stack!r} ({plan.provider}):")
    lines.append("")
    for change in changes:
        lines.extend(_change(change, color))
        lines.append("")
    for note in plan.notes:
        lines.append(f"note: {note}")
    if plan.notes:
        lines.append("")
    s = plan.summary()
    lines.append(paint(f"Plan: {s['add']} to add, {s['change']} to change, {s['replace']} to replace, "
                       f"{s['destroy']} to destroy.", "bold", color))
    return "\n".join(lines) + "\n"


def _change(change: Change, color: bool) -> list[str]:
    sym = SYMBOL[change.action]
    head = f"{sym:>3} {change.address}"
    if change.id:
        head += f"  ({short_id(change.id)})"
    out = [paint(head, COLOR[change.action], color) + paint(f"  # {change.reason}", "dim", color)]
    if change.action is Action.DELETE:
        return out
    if change.action is Action.CREATE:
        for f in change.fields:
            if f.after not in (None, [], {}, ""):
                out.append(f"      {f.name}: {value(f.after)}")
        return out
    for f in change.fields:
        forced = paint("  # forces replacement", "magenta", color) if f.forces_replace else ""
        if f.added or f.removed:
            out.append(f"      {f.name}:{forced}")
            out.extend(paint(f"        + {value(item)}", "green", color) for item in f.added)
            out.extend(paint(f"        - {value(item)}", "red", color) for item in f.removed)
        elif f.before == f.after:
            out.append(f"      {f.name}: {value(f.after)} (new id after replacement){forced}")
        else:
            out.append(f"      {f.name}: {value(f.before)} -> {value(f.after)}{forced}")
    return out


def render_graph(plan: Plan) -> str:
    """The plan's dependency graph in Graphviz DOT."""
    lines = [f'digraph "{plan.stack}" {{', "  rankdir=LR;", '  node [shape=box, fontname="monospace"];']
    for c in plan.actionable:
        lines.append(f'  "{c.address}" [label="{SYMBOL[c.action]} {c.address}", color={COLOR[c.action]}];')
    for c in plan.actionable:
        for dep in c.depends_on:
            lines.append(f'  "{dep}" -> "{c.address}";')
    lines.append("}")
    return "\n".join(lines) + "\n"
