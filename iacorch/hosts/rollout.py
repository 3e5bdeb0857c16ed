"""Switching a replica from the instance that serves it to another one, with the load
balancers in step, without dropping a request:

1. the candidate's server (its slot) is set to DRAIN in every HAProxy in front of the
   service, so it gets no traffic when its checks start passing;
2. the candidate starts (a new release, or a kept one for a rollback);
3. Docker must report it healthy and HAProxy's own checks must pass for it;
4. it is enabled (READY); the current instance's server is drained, waiting for its
   in-flight requests up to ``drain_timeout``;
5. the current instance is stopped and kept under its release tag; the candidate
   takes the replica's name. Old kept releases beyond ``retain`` are removed.

A candidate that fails step 3 is reported (health output, last log lines) and the
current instance keeps serving. Rollouts, automatic and manual rollbacks and canary
promotion all go through ``ReplicaSwitch.activate``.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from iacorch.command import Command, Script
from iacorch.errors import HostError
from iacorch.haproxy import RuntimeApi
from iacorch.haproxy.stats import CHECK_PASSED, parse_show_stat
from iacorch.hosts import docker
from iacorch.hosts.containers import LABEL_ADDRESS, container_name, is_slot_port, slot_of
from iacorch.ssh import HostAddress, SshPool

POLL = 0.1

# the instance tag (release, and slot port when there is one) of container $1, as instance_tag() makes it
TAG_OF = ('tag_of() { docker inspect -f \'{{index .Config.Labels "iacorch.release"}} '
          '{{index .Config.Labels "iacorch.host-port"}}\' "$1" 2>/dev/null | '
          '{ read -r r p; echo "$r${p:+-$p}"; }; }; ')
# keep the newest $2 stopped releases of replica $1 (by its address label), remove older ones
PRUNE = ('docker ps -a --filter "label=' + LABEL_ADDRESS + '=$1" --filter status=exited --filter status=created '
         '--format "{{.CreatedAt}}\t{{.Names}}" | sort -r | tail -n +$(($2 + 1)) | cut -f2 | '
         'xargs -r docker rm >/dev/null')
# $1 replica's name, $2 candidate, $3 address, $4 releases kept: the current instance is kept under its
# tag, the candidate takes the name; the old one (drained already) is stopped, and the oldest kept
# releases pruned, in the background, so the next batch need not wait for it
TAKE_OVER = (TAG_OF + 'old=; if docker inspect "$1" >/dev/null 2>&1 && [ "$1" != "$2" ]; then t=$(tag_of "$1"); '
             'docker rm -f "$1.$t" >/dev/null 2>&1; docker rename "$1" "$1.$t" && old="$1.$t"; fi; '
             '[ "$1" = "$2" ] || docker rename "$2" "$1" || exit 1; '
             'set -- "$3" "$4" "$old"; '
             '( [ -z "$3" ] || docker stop "$3" >/dev/null 2>&1; ' + PRUNE + ' ) </dev/null >/dev/null 2>&1 &')
# the slot port of the replica's current instance (empty when there is none)
CURRENT_PORT = 'docker inspect -f \'{{index .Config.Labels "iacorch.host-port"}}\' "$1" 2>/dev/null; exit 0'


def slot_server(service: str, replica: int, port: int | None) -> str | None:
    if not is_slot_port(port):
        return None
    return f"{service}-{replica}{'ab'[slot_of(port)[1]]}"


class Unhealthy(HostError):
    """The candidate did not become healthy; ``details`` has its health output and logs."""


@dataclass
class Balancers:
    """The HAProxy servers in front of one service: (runtime API of an LB host, backend).

    Commands to one LB host go together in one round trip (the runtime API takes several
    at once): preparing a switch, and enabling the new server while draining the old one.
    """

    slots: list[tuple[RuntimeApi, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.slots)

    def prepare(self, server: str | None, old: str | None) -> tuple["Balancers", "Balancers"]:
        """Put the candidate's server in DRAIN (no traffic when its checks start to pass); return the
        load balancers whose running config has the candidate's server, and those that have the old
        one. A replica new in this apply joins the config after its container starts, and comes up
        by its checks."""
        have_new, have_old = [], []
        for api, backend in self.slots:
            asked = ([f"set server {backend}/{server} state drain"] if server else []) + ["show stat"]
            stats = parse_show_stat(api.ask(*asked)[-1])
            if server and stats.server(backend, server) is not None:
                have_new.append((api, backend))
            if old and stats.server(backend, old) is not None:
                have_old.append((api, backend))
        return Balancers(have_new), Balancers(have_old)

    def checked(self, server: str) -> tuple[bool, str]:
        """Do HAProxy's checks pass for the server everywhere (READY or DRAIN alike)?"""
        for api, backend in self.slots:
            found = api.stats().server(backend, server)
            if found is None:
                return False, f"{api.host}: no server {backend}/{server} in the running config"
            ok = found.state in ("UP", "DRAIN", "no check") and found.transition is None and (
                found.state == "no check" or found.check_status in CHECK_PASSED)
            if not ok:
                return False, f"{api.host}: {backend}/{server} is {found.status}, last check {found.check_status}" \
                              f"{f' ({found.check_description})' if found.check_description else ''}"
        return True, ""

    def switch(self, new: str | None, old: "Balancers", old_server: str | None, drain_timeout: float) -> None:
        """Enable ``new`` here, drain ``old_server`` on ``old``, wait for its in-flight requests."""
        busy = []
        for api, backend in {*self.slots, *old.slots}:
            asked = []
            if new and (api, backend) in self.slots:
                asked.append(f"set server {backend}/{new} state ready")
            if old_server and (api, backend) in old.slots:
                asked.append(f"set server {backend}/{old_server} state drain")
            stats = parse_show_stat(api.ask(*asked, "show stat")[-1])
            found = stats.server(backend, old_server) if old_server else None
            if found is not None and found.current_sessions and (api, backend) in old.slots:
                busy.append((api, backend))
        deadline = time.monotonic() + drain_timeout
        for api, backend in busy:
            api.wait_until_drained(backend, old_server, max(0.0, deadline - time.monotonic()))

    def drain(self, server: str, timeout: float) -> None:
        Balancers().switch(None, self, server, timeout)


@dataclass
class Timings:
    started: float = 0.0  # container start
    ready: float = 0.0  # from started to healthy (Docker and HAProxy)
    switched: float = 0.0  # enable, drain, stop, rename
    container_id: str = ""


class ReplicaSwitch:
    def __init__(self, pool: SshPool, host: HostAddress, stack: str, service: str, replica: int,
                 balancers: Balancers, *, retain: int) -> None:
        self.pool, self.host, self.service, self.replica = pool, host, service, replica
        self.balancers, self.retain = balancers, retain
        self.name = container_name(stack, service, replica)
        self.address = f"service.{service}[{replica}]"

    def current_port(self) -> int | None:
        out = self.pool.run(self.host, Command.of("sh", "-c", CURRENT_PORT, "port", self.name)).stdout.strip()
        return int(out) if out.isdigit() else None

    def activate(self, candidate: str, port: int | None, start: Command, *, deadline: float,
                 drain_timeout: float, where: str, settle: float = 1.0,
                 current_port: int | None | bool = False, lb_gate: bool = False) -> Timings:
        """Make ``candidate`` (started by ``start``) serve the replica; see the module's steps.
        ``current_port`` is the slot of the instance serving now, when the caller knows it.
        ``lb_gate``: a restart of a release that was healthy before: HAProxy's own check of the
        same endpoint is enough, without waiting for Docker's next check (when there is an LB)."""
        timings = Timings()
        server = slot_server(self.service, self.replica, port)
        if candidate == self.name:
            current = None
        else:
            current = self.current_port() if current_port is False else current_port
        old_server = slot_server(self.service, self.replica, current)
        if old_server == server:
            old_server = None
        lb, old_lb = self.balancers.prepare(server, old_server) if self.balancers else (Balancers(), Balancers())
        t0 = time.monotonic()
        self.pool.run(self.host, start, timeout=900)
        timings.started = time.monotonic() - t0
        t1 = time.monotonic()
        self._until_ready(candidate, server, lb, deadline, settle, where, lb_gate=lb_gate)
        timings.ready = time.monotonic() - t1
        t2 = time.monotonic()
        if lb or old_lb:
            lb.switch(server if lb else None, old_lb, old_server, drain_timeout)
        done = self.pool.run(self.host, Script.of(
            Command.of("sh", "-c", TAKE_OVER, "take-over", self.name, candidate, self.address, str(self.retain)),
            Command.of("docker", "inspect", "--format", "{{.Id}}", self.name))).check(self.host.name)
        timings.switched = time.monotonic() - t2
        timings.container_id = done.steps[1].stdout.strip()
        return timings

    def retire(self, drain_timeout: float) -> None:
        """Stop-first: drain the current instance and stop it, kept under its tag (nothing takes its name)."""
        server = slot_server(self.service, self.replica, self.current_port())
        _, lb = self.balancers.prepare(None, server) if self.balancers else (None, Balancers())
        if lb:
            lb.drain(server, drain_timeout)
        self.pool.run(self.host, Command.of("sh", "-c", TAG_OF + 'docker inspect "$1" >/dev/null 2>&1 || exit 0; '
                                            't=$(tag_of "$1"); docker stop "$1" >/dev/null; docker rm -f "$1.$t" '
                                            '>/dev/null 2>&1; docker rename "$1" "$1.$t"', "retire", self.name))

    def _until_ready(self, candidate: str, server: str | None, lb: Balancers, limit: float, settle: float,
                     where: str, lb_gate: bool = False) -> None:
        """Docker's health check and HAProxy's own checks, polled side by side."""
        deadline = time.monotonic() + limit
        settled = time.monotonic() + settle
        lb_wanted = bool(lb and server)
        with ThreadPoolExecutor(max_workers=2) as both:
            while True:
                docker_poll = both.submit(self.pool.run, self.host, docker.health_status(candidate), check=False)
                lb_poll = both.submit(lb.checked, server) if lb_wanted else None
                state, health = (docker_poll.result().stdout.split() + ["?", "?"])[:2]
                lb_ok, lb_why = lb_poll.result() if lb_poll else (True, "")
                now = time.monotonic()
                docker_ok = state == "running" and (health == "healthy" or (health == "none" and now >= settled)
                                                    or (lb_gate and lb_wanted and health == "starting"))
                if docker_ok and lb_ok:
                    return
                failed = state in ("exited", "dead") or health == "unhealthy"
                if failed or now >= deadline:
                    why = ("exited" if state in ("exited", "dead") else "is unhealthy" if health == "unhealthy"
                           else f"was not healthy within {limit:g}s" + (f" ({lb_why})" if docker_ok else ""))
                    raise self.report(candidate, why, where)
                time.sleep(POLL)

    def report(self, candidate: str, why: str, where: str) -> Unhealthy:
        result = self.pool.run(self.host, Script.of(
            Command.of("docker", "inspect", "--format", "{{.Config.Labels}}|{{if .State.Health}}"
                       "{{range .State.Health.Log}}{{.Output}}{{end}}{{end}}", candidate),
            docker.logs_tail(candidate), stop_on_failure=False), check=False)
        health_out = result.steps[0].stdout.split("|", 1)[-1].strip()[-600:]
        logs = (result.steps[1].stdout + result.steps[1].stderr).strip()
        details = ""
        if health_out:
            details += f"last health check output:\n  {health_out}\n"
        if logs:
            details += "last log lines:\n" + "\n".join("  " + line for line in logs.splitlines()[-15:])
        release = candidate.rsplit(".", 1)[-1] if "." in candidate else "the candidate"
        return Unhealthy(f"{release} of {self.address} on {self.host.name} {why}; the instance it was to replace "
                         f"keeps serving", where=where, details=details or None,
                         hint="check the app's health endpoint and logs")

    def discard(self, candidate: str, *, remove: bool) -> None:
        """After a failed activation: remove a new instance, or stop a kept one again."""
        self.pool.run(self.host, docker.remove(candidate) if remove else docker.stop(candidate, 5), check=False)
