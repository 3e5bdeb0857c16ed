"""HAProxy load balancers at run time: facts read in each host's observe round trip,
the steps that install, configure and reload them, and their live state for status."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from iacorch.command import Command, Secret, write_file
from iacorch.errors import IacorchError
from iacorch.haproxy import (
    Endpoint, RuntimeApi, cert_path, deploy_config, facts_command, haproxy_config, install_haproxy,
    parse_facts, parse_install, render_config, upload_certificate,
)
from iacorch.hosts.containers import CHECK_PORT_OFFSET, check_port_of
from iacorch.lb.model import KINDS, LbModel, haproxy_address, parse_server_line
from iacorch.plan import Change
from iacorch.provider import IdMap, Step
from iacorch.resources import Observed, ObservedResource
from iacorch.ssh import SshPool
from iacorch.stack.load import StackFile

STATE_FILE = "/etc/haproxy/iacorch.json"  # what the live config was made from (for observation)


def _state_of(step) -> dict | None:
    if step.exit_status != 0 or not step.stdout.strip():
        return None
    try:
        return json.loads(step.stdout)
    except ValueError:
        return None


def _haproxy_of(step) -> dict | None:
    if step.exit_status != 0:
        return None
    facts = parse_facts(step.stdout)
    return {"installed": facts.installed, "version": facts.version, "digest": facts.config_digest,
            "active": facts.active}


class LbLayer:
    kinds = KINDS

    def __init__(self, sf: StackFile, provider: Any, pool: SshPool) -> None:
        self.sf, self.provider, self.pool = sf, provider, pool
        self.model = LbModel()

    @property
    def facts(self) -> dict:
        """Extra steps for each host's observe round trip."""
        if not any(lb.kind == "haproxy" for lb in self.sf.stack.load_balancers.values()):
            return {}
        return {"haproxy": (facts_command(), _haproxy_of),
                "haproxy_state": (Command.of("cat", STATE_FILE), _state_of)}

    def observe(self, observed: Observed) -> Observed:
        resources = dict(observed.resources)
        for host, extra in (observed.runtime.get("extra") or {}).items():
            facts, state = extra.get("haproxy"), extra.get("haproxy_state")
            if not facts or not facts["installed"] or not state:
                continue
            attrs = {"host": host, "settings": state.get("settings"), "servers": state.get("servers", []),
                     "hosts": state.get("hosts", []), "ips": state.get("ips", {})}
            if state.get("digest") != facts["digest"] or not facts["active"]:
                attrs["settings"] = None  # changed by hand or not running: redeploy
            containers = sorted({_container_of(line) for line in attrs["servers"]})
            address = haproxy_address(host)
            resources[address] = ObservedResource(address, "haproxy", facts["digest"] or "", attrs,
                                                  deps=tuple(dict.fromkeys([host, *attrs["hosts"], *containers])))
        return replace(observed, resources=resources)

    # -- steps --------------------------------------------------------------------------
    def apply(self, step: Step, ids: IdMap) -> str | None:
        if step.op == "delete":
            return self._remove(step.change, ids)
        return self._deploy(step.change, ids)

    def _deploy(self, c: Change, ids: IdMap) -> str:
        host = c.after["host"]
        addr = self.provider.host_address(host, ids)
        self.pool.wait_ready(addr)
        parse_install(self.pool.run(addr, install_haproxy(), timeout=900), host)
        group = host.removeprefix("group.").split("[", 1)[0]
        lbs = {n: lb for n, lb in self.sf.stack.load_balancers.items() if lb.kind == "haproxy" and lb.group == group}
        for name, lb in lbs.items():
            if lb.tls is not None:
                with open(self.sf.resolve(lb.tls.cert), encoding="utf-8") as f:
                    self.pool.run(addr, upload_certificate(Secret(f.read(), f"{name} certificate"), cert_path(name)))
        ips = {h: self.provider.peer_ip(h, ids) for h in c.after["hosts"]}
        endpoints: dict[str, list[Endpoint]] = {}
        for line in c.after["servers"]:
            backend, name, where, port = parse_server_line(line)
            service = backend.split(".", 1)[1]
            svc = self.sf.stack.services[service]
            check = check_port_of(svc.health.model_dump(mode="json") if svc.health else None, svc.port)
            endpoints.setdefault(service, []).append(
                Endpoint(name, ips[where], port, check_port=port + CHECK_PORT_OFFSET if check else None))
        try:
            config = haproxy_config(lbs, self.sf.stack.services, endpoints)
        except IacorchError as exc:
            raise IacorchError(exc.message, where=c.address, hint=exc.hint) from None
        rendered = render_config(config)
        deploy_config(self.pool, addr, rendered)
        state = {"digest": rendered.digest, "settings": c.after["settings"], "servers": c.after["servers"],
                 "hosts": c.after["hosts"], "ips": ips}
        self.pool.run(addr, write_file(STATE_FILE, json.dumps(state, sort_keys=True).encode(), 0o644))
        return rendered.digest

    def _remove(self, c: Change, ids: IdMap) -> None:
        addr = self.provider.host_address(c.before["host"], ids)
        self.pool.run(addr, Command.of("sh", "-c", f"systemctl disable --now haproxy >/dev/null 2>&1; "
                                                   f"rm -f {STATE_FILE}; exit 0"))

    # -- status -------------------------------------------------------------------------
    def status(self, observed: Observed) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, lb in sorted(self.sf.stack.load_balancers.items()):
            if lb.kind != "haproxy":
                continue
            hosts = sorted(a for a in observed.resources if a.startswith(f"group.{lb.group}[")
                           and observed.resources[a].kind in ("instance", "vm"))
            entry: dict[str, Any] = {"kind": lb.kind, "group": lb.group, "url": None, "hosts": {}, "backends": []}
            for host in hosts:
                facts = observed.hosts.get(host) or {}
                if not facts.get("reachable"):
                    entry["hosts"][host] = {"state": "unreachable", "error": facts.get("error")}
                    continue
                if haproxy_address(host) not in observed.resources:
                    entry["hosts"][host] = {"state": "not deployed"}
                    continue
                try:
                    stats = RuntimeApi(self.pool, self.provider.host_address(host, None)).stats()
                except IacorchError as exc:
                    entry["hosts"][host] = {"state": "no answer", "error": exc.message}
                    continue
                entry["hosts"][host] = {"state": "running"}
                entry["url"] = entry["url"] or self.provider.lb_url(host, lb.listen)
                live = _live_ports(observed)
                for backend in stats.backends_of(name):
                    for server in backend.servers:
                        port = int((server.address or ":0").rsplit(":", 1)[1] or 0)
                        entry["backends"].append({
                            "host": host, "backend": backend.name, "server": server.name, "state": server.state,
                            "role": "active" if (_container_of_server(server.name), port) in live else "standby",
                            "status": server.status, "sessions": server.current_sessions,
                            "requests": server.total_requests if server.total_requests is not None
                            else server.total_sessions,
                            "check": server.check_description})
            out[name] = entry
        return out


def _container_of(server_line: str) -> str:
    return _container_of_server(parse_server_line(server_line)[1])


def _container_of_server(name: str) -> str:
    """``web-3a`` (replica 3, slot a) -> ``service.web[3]``."""
    service, _, replica = name.rpartition("-")
    return f"service.{service}[{replica[:-1]}]"


def _live_ports(observed: Observed) -> set[tuple[str, int]]:
    """(replica, slot port) of every running container: the servers that carry traffic."""
    return {(address.split("~", 1)[0], info["host_port"])
            for address, info in (observed.runtime.get("containers") or {}).items()
            if info.get("state") == "running" and info.get("host_port")}
