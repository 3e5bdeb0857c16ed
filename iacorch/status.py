"""status: what exists for a stack, as data (``--json``) and as a table."""

from __future__ import annotations

from typing import Any

from iacorch.planner import parse_instance_address
from iacorch.resources import Observed
from iacorch.stack.load import StackFile


def status_data(sf: StackFile, observed: Observed) -> dict[str, Any]:
    resources = [{"address": r.address, "kind": r.kind, "id": r.id}
                 for r in sorted(observed.resources.values(), key=lambda r: r.address)]
    hosts = []
    for r in sorted(observed.resources.values(), key=lambda r: r.address):
        parsed = parse_instance_address(r.address)
        if parsed and r.kind == "instance":
            hosts.append({"name": r.address, "group": parsed[0], "id": r.id,
                          "address": r.attrs.get("public_ip") or r.attrs.get("private_ip"),
                          "state": r.attrs.get("state")})
    return {"stack": sf.stack.stack, "provider": observed.provider, "resources": resources, "hosts": hosts}


def render_status(data: dict[str, Any]) -> str:
    lines = [f"stack {data['stack']} ({data['provider']})", ""]
    if data["hosts"]:
        lines.append(_table(["HOST", "GROUP", "ADDRESS", "STATE", "ID"],
                            [[h["name"], h["group"], h["address"] or "-", h["state"] or "-", h["id"]]
                             for h in data["hosts"]]))
        lines.append("")
    lines.append(_table(["RESOURCE", "KIND", "ID"], [[r["address"], r["kind"], r["id"]] for r in data["resources"]]))
    return "\n".join(lines) + "\n"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)] if rows else [len(h) for h in header]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*header)]
    out += [fmt.format(*[str(x) for x in row]) for row in rows]
    return "\n".join(line.rstrip() for line in out)
