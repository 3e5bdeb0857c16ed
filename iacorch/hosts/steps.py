"""Apply steps on hosts: install Docker, ship images, run, replace, update and remove containers.

A replica's new release starts beside the old one under its own name and is
switched to through ``rollout.ReplicaSwitch`` (health-gated, load balancers in
step); the old release is stopped and kept (``update.retain``) for rollback. A
release that fails is removed and the old one keeps serving. Replicas switched
in this apply are remembered, so the engine can roll them back.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from iacorch.command import Command
from iacorch.errors import IacorchError
from iacorch.haproxy import RuntimeApi, backend_name
from iacorch.hosts import build, docker
from iacorch.hosts.containers import (
    LABEL_ADDRESS, ContainerSpec, candidate_name, container_name, env_file, release_name, spec_from_attrs,
)
from iacorch.hosts.releases import Revert
from iacorch.hosts.rollout import Balancers, ReplicaSwitch, Timings, Unhealthy
from iacorch.lb.model import haproxy_address
from iacorch.plan import Action, Change
from iacorch.provider import IdMap, Step
from iacorch.report import Reporter
from iacorch.secrets import SecretResolver
from iacorch.ssh import HostAddress, SshPool
from iacorch.stack.load import StackFile
from iacorch.stack.units import parse_duration

Resolve = Callable[[str, IdMap], HostAddress]

# start the release under its own name, or adopt it when an interrupted run left it running
RUN_OR_ADOPT = ('name=$1; shift; '
                'if [ "$(docker inspect -f "{{.State.Running}}" "$name" 2>/dev/null)" = true ]; '
                'then echo adopted; exit 0; fi; '
                'docker rm -f "$name" >/dev/null 2>&1; exec docker "$@"')


class HostSteps:
    def __init__(self, sf: StackFile, pool: SshPool, resolve: Resolve, secrets: SecretResolver,
                 reporter: Reporter) -> None:
        self.sf, self.pool, self.resolve, self.secrets, self.reporter = sf, pool, resolve, secrets, reporter
        self.stack = sf.stack.stack
        self._lock = threading.Lock()
        self.switched: dict[str, dict] = {}  # replica -> what it ran before this apply switched it
        self.failures: dict[str, int] = {}  # service -> replicas that failed their new release
        self.timings: list[tuple[str, Timings]] = []

    def run(self, step: Step, ids: IdMap) -> str | None:
        handler = getattr(self, f"{step.op}_{step.change.kind}")
        return handler(step.change, ids)

    def _host(self, change: Change, ids: IdMap) -> HostAddress:
        attrs = change.after if change.after is not None else change.before
        return self.resolve(attrs["host"], ids)

    # -- Docker engine ------------------------------------------------------------------
    def create_docker_engine(self, c: Change, ids: IdMap) -> str:
        host = self._host(c, ids)
        self.pool.wait_ready(host)
        out = self.pool.run(host, docker.install_engine(), timeout=900).stdout.strip()
        return out.removeprefix("docker ").splitlines()[-1] if out else ""

    update_docker_engine = create_docker_engine

    def delete_docker_engine(self, c: Change, ids: IdMap) -> None:
        return None  # Docker stays installed; the VM's own lifecycle removes it

    # -- images -------------------------------------------------------------------------
    def create_local_image(self, c: Change, ids: IdMap) -> str:
        return build.build(self.stack, c.after["ref"], self.sf.resolve(c.after["context"]), where=c.address)

    def delete_local_image(self, c: Change, ids: IdMap) -> None:
        return None

    def create_image(self, c: Change, ids: IdMap) -> str:
        host, ref = self._host(c, ids), c.after["ref"]
        present = self.pool.run(host, docker.image_present(ref), check=False)
        if present.exit_status == 0:
            return present.stdout.strip()
        service = c.address.removeprefix("image.").split("@", 1)[0]
        if self.sf.stack.services[service].build:
            saver = build.save(ref)
            try:
                self.pool.stream(host, docker.load(), saver.stdout)
            finally:
                saver.stdout.close()
                if saver.wait() != 0:
                    raise IacorchError(f"docker save {ref} failed: {saver.stderr.read().decode(errors='replace')}",
                                       where=c.address)
        else:
            self.pool.run(host, docker.pull(ref), timeout=900)
        return self.pool.run(host, docker.image_present(ref)).stdout.strip()

    def delete_image(self, c: Change, ids: IdMap) -> None:
        return None  # kept: retained releases roll back without a pull

    # -- containers ---------------------------------------------------------------------
    def create_container(self, c: Change, ids: IdMap) -> str | None:
        if "~" in c.address:
            return c.id or ""  # an adopted release: its replica's replacement takes it over
        spec = spec_from_attrs(self.stack, c.address, dict(c.after))
        svc = self.sf.stack.services[spec.service]
        host = self._host(c, ids)
        if c.batch > 1 and svc.update.delay:
            time.sleep(svc.update.delay)
        temp = candidate_name(self.stack, spec.service, spec.replica, spec.release, spec.host_port)
        env_path = self._write_secrets(host, spec, c.address)
        start = Command.of("sh", "-c", RUN_OR_ADOPT, "run", temp, *docker.run(spec, temp, env_path).argv[1:])
        switch = self._switch(spec.service, spec.replica, host, ids)
        current = (c.before or {}).get("host_port") if c.action is Action.REPLACE and c.create_before_destroy else None
        try:
            timings = switch.activate(temp, spec.host_port, start, deadline=self._deadline(spec),
                                      drain_timeout=svc.update.drain_timeout, where=c.address, current_port=current)
        except Unhealthy as failure:
            switch.discard(temp, remove=True)
            return self._failed(spec.service, c.address, failure)
        self.timings.append((c.address, timings))
        if c.action is Action.REPLACE and c.before:
            with self._lock:
                self.switched[c.address] = dict(c.before)
        if svc.update.monitor:
            self._monitor(switch, spec, svc.update.monitor, c.address)
        return timings.container_id

    def update_container(self, c: Change, ids: IdMap) -> None:
        spec = spec_from_attrs(self.stack, c.address, dict(c.after))
        host = self._host(c, ids)
        name = container_name(self.stack, spec.service, spec.replica)
        changed = {f.name for f in c.fields}
        if changed & {"cpus", "memory"}:
            self.pool.run(host, docker.update_limits(name, spec.cpus, spec.memory))
        if "state" in changed:  # stopped by hand: start it and let it back in once healthy
            switch = self._switch(spec.service, spec.replica, host, ids)
            switch.activate(name, spec.host_port, docker.start(name), deadline=self._deadline(spec),
                            drain_timeout=0, where=c.address)

    def restart_replica(self, address: str, info: dict, ids: IdMap) -> None:
        """The control loop's restart of a replica that exited or turned unhealthy: drained in the
        load balancers, (re)started, and let back in once Docker and HAProxy both say healthy."""
        service, replica = _replica_of(address)
        svc = self.sf.stack.services[service]
        host = self.resolve(info["host"], ids)
        spec = ContainerSpec.of(self.stack, service, svc, replica, info.get("image") or "",
                                host_port=info.get("host_port"))
        start = docker.start(info["name"]) if info["state"] != "running" else docker.restart(info["name"])
        self._switch(service, replica, host, ids).activate(
            info["name"], info.get("host_port"), start, deadline=self._deadline(spec), drain_timeout=0, where=address,
            lb_gate=True)

    def delete_container(self, c: Change, ids: IdMap) -> None:
        host = self.resolve(c.before["host"], ids)
        base = c.address.split("~", 1)[0]
        if "~" in c.address:  # a leftover instance of an interrupted rollout
            self.pool.run(host, docker.remove(c.id or ""))
            return
        if c.action is Action.REPLACE:
            if not c.create_before_destroy:  # stop-first: the old instance goes before the new one starts
                service, replica = _replica_of(base)
                svc = self.sf.stack.services.get(service)
                self._switch(service, replica, host, ids).retire(svc.update.drain_timeout if svc else 10.0)
            return  # start-first: the new instance already took over and kept the old one
        # the replica is gone from the stack: its active and kept instances go
        self.pool.run(host, Command.of("sh", "-c", 'docker ps -aq --filter "label=' + LABEL_ADDRESS + '=$1" | '
                                       'xargs -r docker rm -f >/dev/null', "remove", base))

    # -- rollbacks ----------------------------------------------------------------------
    def revert(self, target: Revert, ids: IdMap) -> Timings:
        """Switch a replica back to a kept instance (no pull: the container is there, stopped)."""
        service, replica = _replica_of(target.address)
        svc = self.sf.stack.services[service]
        host = self.resolve(target.host, ids)
        switch = self._switch(service, replica, host, ids)
        deadline = parse_duration(svc.health.deadline) if svc.health else 3.0
        try:
            return switch.activate(target.candidate, target.port, docker.start(target.candidate),
                                   deadline=deadline, drain_timeout=svc.update.drain_timeout, where=target.address)
        except Unhealthy:
            switch.discard(target.candidate, remove=False)
            raise

    def switched_targets(self, service: str) -> list[Revert]:
        """The replicas of ``service`` this apply switched, and what each ran before."""
        with self._lock:
            items = sorted((a, b) for a, b in self.switched.items() if a.startswith(f"service.{service}["))
        out = []
        for address, before in items:
            _, replica = _replica_of(address)
            release, port = before.get("release") or "", before.get("host_port")
            out.append(Revert(address, before["host"], release_name(self.stack, service, replica, release, port),
                              port, release))
        return out

    # -- rollouts -----------------------------------------------------------------------
    def _switch(self, service: str, replica: int, host: HostAddress, ids: IdMap) -> ReplicaSwitch:
        return ReplicaSwitch(self.pool, host, self.stack, service, replica, self._balancers(service, ids),
                             retain=self._retain(service))

    def _balancers(self, service: str, ids: IdMap) -> Balancers:
        """The HAProxy backends of this service on every deployed load balancer host."""
        slots = []
        known = ids.snapshot()
        for lb_name, lb in sorted(self.sf.stack.load_balancers.items()):
            routed = {r.service for r in lb.routes} | ({lb.service} if lb.service else set())
            if lb.kind != "haproxy" or service not in routed:
                continue
            for host in sorted(a for a in known if a.startswith(f"group.{lb.group}[")):
                if haproxy_address(host) in known:
                    slots.append((RuntimeApi(self.pool, self.resolve(host, ids)), backend_name(lb_name, service)))
        return Balancers(slots)

    def _deadline(self, spec: ContainerSpec) -> float:
        return parse_duration(spec.health["deadline"]) if spec.health else 3.0

    def _failed(self, service: str, address: str, failure: Unhealthy) -> None:
        """Raise, unless the service tolerates this many failed replicas (update.max_failure_ratio)."""
        svc = self.sf.stack.services[service]
        with self._lock:
            self.failures[service] = self.failures.get(service, 0) + 1
            count = self.failures[service]
        allowed = int(svc.update.max_failure_ratio * max(svc.replicas, 1))
        if count <= allowed:
            self.reporter.message(f"{failure} (tolerated: {count} of {allowed} allowed by max_failure_ratio)",
                                  "warning")
            return None
        raise failure

    def _monitor(self, switch: ReplicaSwitch, spec: ContainerSpec, seconds: float, where: str) -> None:
        """Watch a switched replica for ``update.monitor``: it must stay healthy."""
        name = switch.name
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            state, health = (self.pool.run(switch.host, docker.health_status(name), check=False).stdout.split()
                             + ["?", "?"])[:2]
            if state != "running" or health == "unhealthy":
                raise switch.report(name, f"failed while monitored ({state}, {health})", where)
            time.sleep(0.5)

    def _retain(self, service: str) -> int:
        svc = self.sf.stack.services.get(service)
        return svc.update.retain if svc else 0

    def _write_secrets(self, host: HostAddress, spec: ContainerSpec, where: str) -> str | None:
        if not spec.secrets:
            return None
        values = self.secrets.resolve_all(spec.secrets, where=where)
        path = env_file(self.stack, spec.service, spec.replica, spec.release, spec.host_port)
        self.pool.run(host, docker.write_env_file(path, values))
        return path


def _replica_of(address: str) -> tuple[str, int]:
    service, _, rest = address.removeprefix("service.").partition("[")
    return service, int(rest.split("]", 1)[0])
