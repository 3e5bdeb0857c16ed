"""status: what exists for a stack, as data (``--json``) and as tables."""

from __future__ import annotations

from typing import Any

from iacorch.addresses import parse_instance_address
from iacorch.resources import Observed
from iacorch.stack.load import StackFile


def status_data(sf: StackFile, observed: Observed) -> dict[str, Any]:
    resources = [{"address": r.address, "kind": r.kind, "id": r.id}
                 for r in sorted(observed.resources.values(), key=lambda r: r.address)]
    hosts = []
    for r in sorted(observed.resources.values(), key=lambda r: r.address):
        parsed = parse_instance_address(r.address)
        if not parsed or r.kind not in ("instance", "vm"):
            continue
        facts = observed.hosts.get(r.address, {})
        state = r.attrs.get("state")
        if state == "running" and facts and not facts.get("reachable", True):
            state = "unreachable"
        hosts.append({"name": r.address, "group": parsed[0], "id": r.id,
                      "address": r.attrs.get("public_ip") or r.attrs.get("private_ip"), "state": state,
                      "docker": facts.get("docker"), "error": facts.get("error")})
    containers = observed.runtime.get("containers", {})
    retained = observed.runtime.get("retained", {})
    services: dict[str, Any] = {}
    for name, svc in sorted(sf.stack.services.items()):
        replicas = []
        for address, info in sorted(containers.items(), key=lambda kv: _replica_key(kv[0])):
            if not address.startswith(f"service.{name}["):
                continue
            replicas.append({"id": address.split("[", 1)[1].split("]", 1)[0] + (address.split("]", 1)[1]),
                             "address": address, "host": info["host"], "state": info["state"],
                             "health": info["health"], "release": info["release"], "container": info["name"],
                             "port": info.get("host_port")})
        releases = sorted({i["release"] for addr, infos in retained.items() if addr.startswith(f"service.{name}[")
                           for i in infos if i["release"]})
        services[name] = {"desired": svc.replicas if svc.mode == "replicated" else "global",
                          "replicas": replicas, "retained_releases": releases}
    return {"stack": sf.stack.stack, "provider": observed.provider, "hosts": hosts, "services": services,
            "resources": resources}


def _replica_key(address: str) -> tuple[str, int, str]:
    base, _, rest = address.partition("[")
    index, _, tail = rest.partition("]")
    return base, int(index) if index.isdigit() else 0, tail


def render_status(data: dict[str, Any]) -> str:
    lines = [f"stack {data['stack']} ({data['provider']})", ""]
    if data["hosts"]:
        lines.append(table(["HOST", "GROUP", "ADDRESS", "STATE", "DOCKER", "ID"],
                            [[h["name"], h["group"], h["address"] or "-", h["state"] or "-", h["docker"] or "-",
                              h["id"]] for h in data["hosts"]]))
        lines.append("")
    for name, svc in data["services"].items():
        running = sum(1 for r in svc["replicas"] if r["state"] == "running")
        lines.append(f"service {name}: {running}/{svc['desired']} running")
        lines.append(table(["REPLICA", "HOST", "STATE", "HEALTH", "RELEASE", "PORT"],
                            [[r["id"], r["host"], r["state"], r["health"] or "-", r["release"] or "-",
                              r["port"] or "-"] for r in svc["replicas"]]))
        if svc.get("resources"):
            rec, now = svc["resources"]["recommended"], svc["resources"]["limits"]
            lines.append(f"  resources (auto): peak use {svc['resources']['peak_cpus']:g} cpus, "
                         f"{svc['resources']['peak_memory'] // 2**20} MiB; limits now {now['cpus']} cpus, "
                         f"{(now['memory'] or 0) // 2**20} MiB; recommended {rec['cpus']:g} cpus, "
                         f"{rec['memory'] // 2**20} MiB")
        lines.append("")
    for name, lb in (data.get("load_balancers") or {}).items():
        lines.append(f"load balancer {name} ({lb['kind']} on group {lb['group']}): {lb['url'] or 'no address yet'}")
        shown = [b for b in lb["backends"] if b["role"] == "active" or b["state"] != "DOWN"]
        lines.append(table(["HOST", "BACKEND", "SERVER", "STATE", "SESSIONS", "REQUESTS"],
                            [[b["host"], b["backend"], b["server"], b["state"], _dash(b.get("sessions")),
                              _dash(b.get("requests"))] for b in shown]))
        standby = len(lb["backends"]) - len(shown)
        if standby:
            lines.append(f"  ({standby} standby slot(s) without a container, for the next release)")
        for host, info in lb["hosts"].items():
            if info["state"] != "running":
                lines.append(f"  {host}: {info['state']}{': ' + info['error'] if info.get('error') else ''}")
        lines.append("")
    for h in data["hosts"]:
        if h.get("error"):
            lines.append(f"warning: {h['name']} is unreachable: {h['error']}")
    if not data["hosts"] and not data["services"]:
        lines.append(table(["RESOURCE", "KIND", "ID"], [[r["address"], r["kind"], r["id"]]
                                                          for r in data["resources"]]))
    return "\n".join(lines).rstrip() + "\n"


def _dash(value: Any) -> Any:
    return "-" if value is None else value


def table(header: list[str], rows: list[list[Any]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)] if rows else [len(h) for h in header]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*header)]
    out += [fmt.format(*[str(x) for x in row]) for row in rows]
    return "\n".join(line.rstrip() for line in out)
