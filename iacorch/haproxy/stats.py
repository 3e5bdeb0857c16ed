"""Parsers for the runtime API's ``show stat`` (CSV) and ``show servers state``. Pure.

Server status as HAProxy 2.6 prints it: ``UP``, ``DOWN``, ``DRAIN``, ``MAINT``, ``NOLB``,
``no check``, with a transition while checks count (``UP 1/3``: up, one failed check
towards going down; ``DOWN 1/2``: down, one passed check towards going up) and a cause
in brackets (``MAINT (via)``, ``DOWN (agent)``). ``state`` is the plain word.
Counters (sessions, requests) start at 0 in each new process, so they reset on reload.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass

STATES = ("UP", "DOWN", "DRAIN", "MAINT", "NOLB", "no check")
CHECK_PASSED = ("L4OK", "L6OK", "L7OK", "L7OKC")
_TRANSITION = re.compile(r"\b(\d+)/(\d+)\b")

# show servers state: srv_op_state and the srv_admin_state bits (HAProxy's server.h)
OPERATIONAL = {0: "stopped", 1: "starting", 2: "running", 3: "stopping"}
ADMIN_MAINT = 0x01 | 0x02 | 0x04 | 0x20 | 0x40  # forced, inherited, config, resolution, hostname
ADMIN_DRAIN = 0x08 | 0x10  # forced, inherited


def _int(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None


def normal_state(status: str) -> str:
    """``UP 1/3`` -> ``UP``, ``MAINT (via)`` -> ``MAINT``, ``no check`` stays."""
    if status.startswith("no check"):
        return "no check"
    return status.split(" ", 1)[0].split("(", 1)[0] if status else ""


@dataclass(frozen=True)
class ServerStats:
    backend: str
    name: str
    status: str  # as HAProxy prints it, e.g. "UP 1/3"
    current_sessions: int
    total_sessions: int
    total_requests: int | None  # http mode only
    check_status: str | None  # L7OK, L4CON, L4TOUT, INI (not checked yet), ...
    check_description: str | None  # "Layer7 check passed", "Connection refused", ...
    seconds_since_change: int | None
    address: str | None  # ip:port
    weight: int | None

    @property
    def state(self) -> str:
        return normal_state(self.status)

    @property
    def transition(self) -> str | None:
        """While HAProxy counts checks: ``going down 2/3`` (UP, failures being counted),
        ``going up 1/2`` (DOWN, passes being counted), ``first check pending`` (a server new
        to the config: HAProxy shows it ``UP 1/3``, one failed check from DOWN); else None."""
        if self.check_status == "INI":
            return "first check pending"
        match = _TRANSITION.search(self.status)
        if not match:
            return None
        return f"going {'up' if self.state == 'DOWN' else 'down'} {match.group(0)}"

    @property
    def checked_up(self) -> bool:
        """UP by HAProxy's own checks: its last check passed and no failure is being counted.
        A server new to the config shows UP before its first check (check status INI): not this."""
        if self.state == "no check":
            return True
        return self.state == "UP" and self.transition is None and self.check_status in CHECK_PASSED


@dataclass(frozen=True)
class BackendStats:
    name: str
    status: str  # UP when a server is usable, DOWN otherwise
    current_sessions: int
    total_sessions: int
    total_requests: int | None
    algorithm: str | None
    servers: tuple[ServerStats, ...]


@dataclass(frozen=True)
class FrontendStats:
    name: str
    status: str  # OPEN, STOP, FULL
    current_sessions: int
    total_sessions: int
    total_requests: int | None


@dataclass(frozen=True)
class HaproxyStats:
    frontends: tuple[FrontendStats, ...]
    backends: tuple[BackendStats, ...]

    def backend(self, name: str) -> BackendStats | None:
        return next((backend for backend in self.backends if backend.name == name), None)

    def backends_of(self, load_balancer: str) -> tuple[BackendStats, ...]:
        """A load balancer's backends (named ``LB.SERVICE``, see ``from_stack.backend_name``)."""
        return tuple(backend for backend in self.backends if backend.name.startswith(f"{load_balancer}."))

    def server(self, backend: str, name: str) -> ServerStats | None:
        found = self.backend(backend)
        return next((server for server in found.servers if server.name == name), None) if found else None


def parse_show_stat(text: str) -> HaproxyStats:
    """``show stat`` CSV: a ``# pxname,svname,...`` header, then one row per proxy and server."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# pxname,"):
        raise ValueError(f"not show stat output: {text[:120]!r}")
    rows = list(csv.DictReader([lines[0][2:], *lines[1:]]))
    frontends, backends, servers = [], [], {}
    for row in rows:
        name, kind = row["pxname"], row["svname"]
        totals = (int(row["scur"] or 0), int(row["stot"] or 0), _int(row.get("req_tot")))
        if kind == "FRONTEND":
            frontends.append(FrontendStats(name, row["status"], *totals))
        elif kind == "BACKEND":
            backends.append((name, row["status"], *totals, row.get("algo") or None))
        else:
            # "* L7OK": a check is running now; the status is the last finished check's
            check = (row.get("check_status") or "").removeprefix("* ").strip() or None
            servers.setdefault(name, []).append(ServerStats(
                name, kind, row["status"], *totals, check,
                row.get("check_desc") or None, _int(row.get("lastchg")), row.get("addr") or None,
                _int(row.get("weight"))))
    return HaproxyStats(tuple(frontends), tuple(
        BackendStats(*fields, tuple(servers.get(fields[0], ()))) for fields in backends))


@dataclass(frozen=True)
class ServerState:
    """One line of ``show servers state``: what a reload carries over through the state file."""

    backend: str
    name: str
    address: str
    port: int | None
    operational: str  # stopped, starting, running, stopping
    admin: str  # ready, drain, maint
    seconds_since_change: int | None


def parse_servers_state(text: str) -> tuple[ServerState, ...]:
    """``show servers state``: a version line (``1``), a ``# be_id be_name ...`` header, rows."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2 or lines[0].strip() != "1" or not lines[1].startswith("# be_id"):
        raise ValueError(f"not show servers state output (version 1): {text[:120]!r}")
    header = lines[1][2:].split()
    states = []
    for line in lines[2:]:
        row = dict(zip(header, line.split()))
        flags = int(row["srv_admin_state"])
        admin = "maint" if flags & ADMIN_MAINT else "drain" if flags & ADMIN_DRAIN else "ready"
        states.append(ServerState(row["be_name"], row["srv_name"], row["srv_addr"], _int(row.get("srv_port")),
                                  OPERATIONAL.get(int(row["srv_op_state"]), row["srv_op_state"]), admin,
                                  _int(row.get("srv_time_since_last_change"))))
    return tuple(states)
