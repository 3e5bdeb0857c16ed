"""HAProxy's runtime API over SSH: read stats, set a server ready / drain / maint, wait for it.

A runtime command reaches the admin socket as stdin of ``socat`` on the host (never on a
command line). Several commands go in one round trip, separated by ``;``; HAProxy ends
each answer with an empty line. A command HAProxy refuses (``No such server.``) raises.

The waits poll ``show stat`` (one round trip each) on a clock that tests can replace.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from iacorch.command import Command
from iacorch.errors import HostError
from iacorch.haproxy.config import ADMIN_SOCKET
from iacorch.haproxy.stats import HaproxyStats, ServerState, ServerStats, parse_servers_state, parse_show_stat

AdminState = Literal["ready", "drain", "maint"]
_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-")


class RuntimeApiError(HostError):
    """The runtime API refused a command, or its socket did not answer."""


def runtime_command(*commands: str, socket: str = ADMIN_SOCKET) -> Command:
    """One round trip to the admin socket with ``commands`` (each one line, no ``;``) on stdin."""
    for command in commands:
        if not command or any(c in command for c in ";\n\r"):
            raise ValueError(f"a runtime API command is one line without ';': {command!r}")
    return Command(("socat", "-t", "10", "stdio", f"unix-connect:{socket}"), ("; ".join(commands) + "\n").encode())


def split_answers(output: str, count: int) -> list[str]:
    """The answer to each of ``count`` commands sent together (each ends with an empty line)."""
    answers, current = [], []
    for line in output.split("\n"):
        if line == "" and len(answers) < count - 1:
            answers.append("\n".join(current))
            current = []
        else:
            current.append(line)
    answers.append("\n".join(current).strip("\n"))
    return answers + [""] * (count - len(answers))


def set_state_command(backend: str, server: str, state: AdminState, socket: str = ADMIN_SOCKET) -> Command:
    if state not in ("ready", "drain", "maint"):
        raise ValueError(f"a server state is ready, drain or maint, not {state!r}")
    for name in (backend, server):
        if not name or not set(name) <= _SAFE:
            raise ValueError(f"not a HAProxy name: {name!r}")
    return runtime_command(f"set server {backend}/{server} state {state}", socket=socket)


@dataclass(frozen=True)
class DrainOutcome:
    drained: bool  # no session left before the timeout
    sessions_left: int
    waited: float


class RuntimeApi:
    """The runtime API of the HAProxy on one host. ``ssh`` is an ``SshPool`` (or anything
    with its ``run``); ``clock`` and ``sleep`` are for tests."""

    def __init__(self, ssh, address, *, socket: str = ADMIN_SOCKET, poll_interval: float = 0.5,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.ssh, self.address, self.socket = ssh, address, socket
        self.poll_interval, self.clock, self.sleep = poll_interval, clock, sleep

    @property
    def host(self) -> str:
        return self.address.name

    def ask(self, *commands: str) -> list[str]:
        """Send commands in one round trip; their answers, in order."""
        result = self.ssh.run(self.address, runtime_command(*commands, socket=self.socket), check=False, timeout=30)
        if result.exit_status != 0:
            reason = (result.stderr.strip().splitlines() or [f"exit status {result.exit_status}"])[-1]
            raise RuntimeApiError(f"HAProxy's admin socket {self.socket} did not answer: {reason}", where=self.host,
                                  hint="is haproxy running with its iacorch config (systemctl status haproxy)? "
                                       "is socat installed?")
        return split_answers(result.stdout, len(commands))

    def stats(self) -> HaproxyStats:
        return parse_show_stat(self.ask("show stat")[0])

    def servers_state(self) -> tuple[ServerState, ...]:
        return parse_servers_state(self.ask("show servers state")[0])

    def set_state(self, backend: str, server: str, state: AdminState) -> None:
        """``set server BACKEND/SERVER state ready|drain|maint``."""
        command = set_state_command(backend, server, state, self.socket)
        result = self.ssh.run(self.address, command, check=False, timeout=30)
        answer = result.stdout.strip()
        if result.exit_status != 0 or answer:
            raise RuntimeApiError(f"HAProxy refused 'set server {backend}/{server} state {state}': "
                                  f"{answer or result.stderr.strip() or f'exit status {result.exit_status}'}",
                                  where=self.host, hint="check the backend and server names (iacorch status)")

    def server(self, backend: str, server: str) -> ServerStats:
        found = self.stats().server(backend, server)
        if found is None:
            raise RuntimeApiError(f"HAProxy has no server {backend}/{server}", where=self.host,
                                  hint="was the config with this server deployed?")
        return found

    def wait_until_up(self, backend: str, server: str, timeout: float) -> ServerStats:
        """Until HAProxy's own checks pass for the server (not just "UP" before its first check).
        Raises ``RuntimeApiError`` with the last status and check result at the deadline."""
        deadline = self.clock() + timeout
        while True:
            found = self.stats().server(backend, server)
            if found is not None and found.checked_up:
                return found
            if self.clock() >= deadline:
                seen = ("not in the running config" if found is None else
                        f"{found.status}, last check {found.check_status or '-'}"
                        f"{f' ({found.check_description})' if found.check_description else ''}")
                raise RuntimeApiError(f"server {backend}/{server} is not UP after {timeout:g}s: {seen}",
                                      where=self.host, hint="look at the replica's logs and its health endpoint")
            self.sleep(self.poll_interval)

    def wait_until_drained(self, backend: str, server: str, timeout: float) -> DrainOutcome:
        """Until the server has no current session, or ``timeout`` passed (then ``drained`` is False)."""
        started = self.clock()
        while True:
            sessions = self.server(backend, server).current_sessions
            waited = self.clock() - started
            if sessions == 0 or waited >= timeout:
                return DrainOutcome(sessions == 0, sessions, waited)
            self.sleep(min(self.poll_interval, max(timeout - waited, 0.0)))

    def drain(self, backend: str, server: str, timeout: float) -> DrainOutcome:
        """Set the server to DRAIN (no new traffic) and wait for its sessions to end."""
        self.set_state(backend, server, "drain")
        return self.wait_until_drained(backend, server, timeout)
