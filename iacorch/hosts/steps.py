"""Apply steps on hosts: install Docker, ship images, run, replace, update and remove containers.

A replica's new release starts beside the old one under a temporary name, must
pass its health check before anything else happens, and only then takes over
the replica's name; the old release is stopped and kept (``update.retain``) for
rollback. A release that fails is removed and the old one keeps serving.
"""

from __future__ import annotations

import time
from typing import Callable

from iacorch.command import Command, Script
from iacorch.errors import HostError, IacorchError
from iacorch.hosts import build, docker
from iacorch.hosts.containers import (
    LABEL_ADDRESS, ContainerSpec, container_name, env_file, instance_tag, release_name, spec_from_attrs,
)
from iacorch.plan import Action, Change
from iacorch.provider import IdMap, Step
from iacorch.report import Reporter
from iacorch.secrets import SecretResolver
from iacorch.ssh import HostAddress, SshPool
from iacorch.stack.load import StackFile
from iacorch.stack.units import parse_duration

Resolve = Callable[[str, IdMap], HostAddress]

# start the release under its own name, or adopt it when an interrupted run left it running
_RUN_OR_ADOPT = ('name=$1; shift; '
                 'if [ "$(docker inspect -f "{{.State.Running}}" "$name" 2>/dev/null)" = true ]; '
                 'then echo adopted; exit 0; fi; '
                 'docker rm -f "$name" >/dev/null 2>&1; exec docker "$@"')
# the instance tag (release, and slot port when there is one) of container $1, as instance_tag() makes it
_TAG_OF = ('tag_of() { docker inspect -f \'{{index .Config.Labels "iacorch.release"}} '
           '{{index .Config.Labels "iacorch.host-port"}}\' "$1" 2>/dev/null | '
           '{ read -r r p; echo "$r${p:+-$p}"; }; }; ')
# keep the newest RETAIN stopped releases of a replica, remove older ones
_PRUNE = ('docker ps -a --filter "label=' + LABEL_ADDRESS + '=$1" --filter status=exited --filter status=created '
          '--format "{{.CreatedAt}}\t{{.Names}}" | sort -r | tail -n +$(($2 + 1)) | cut -f2 | '
          'xargs -r docker rm >/dev/null')


class HostSteps:
    def __init__(self, sf: StackFile, pool: SshPool, resolve: Resolve, secrets: SecretResolver,
                 reporter: Reporter) -> None:
        self.sf, self.pool, self.resolve, self.secrets, self.reporter = sf, pool, resolve, secrets, reporter
        self.stack = sf.stack.stack

    def run(self, step: Step, ids: IdMap) -> str | None:
        handler = getattr(self, f"{step.op}_{step.change.kind}")
        return handler(step.change, ids)

    def _host(self, change: Change, ids: IdMap) -> HostAddress:
        attrs = change.after if change.after is not None else change.before
        return self.resolve(attrs["host"], ids)

    # -- Docker engine ------------------------------------------------------------------
    def create_docker_engine(self, c: Change, ids: IdMap) -> str:
        host = self._host(c, ids)
        self.pool.wait_ready(host, timeout=300)
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
    def create_container(self, c: Change, ids: IdMap) -> str:
        spec = spec_from_attrs(self.stack, c.address.split("~", 1)[0], dict(c.after))
        host = self._host(c, ids)
        if "~" in c.address:
            return c.id or ""  # an adopted release: its replica's replacement takes it over
        temp = release_name(self.stack, spec.service, spec.replica, spec.release, spec.host_port)
        env_path = self._write_secrets(host, spec, c.address)
        run = docker.run(spec, temp, env_path)
        self.pool.run(host, Command.of("sh", "-c", _RUN_OR_ADOPT, "run", temp, *run.argv[1:]), timeout=900)
        self._wait_healthy(host, spec, temp, c.address)
        self._take_over(host, spec, temp)
        return self.pool.run(host, Command.of("docker", "inspect", "--format", "{{.Id}}",
                                              container_name(self.stack, spec.service, spec.replica))).stdout.strip()

    def update_container(self, c: Change, ids: IdMap) -> None:
        spec = spec_from_attrs(self.stack, c.address, dict(c.after))
        host = self._host(c, ids)
        name = container_name(self.stack, spec.service, spec.replica)
        changed = {f.name for f in c.fields}
        steps = []
        if changed & {"cpus", "memory"}:
            steps.append(docker.update_limits(name, spec.cpus, spec.memory))
        if "state" in changed:
            steps.append(docker.start(name))
        if steps:
            self.pool.run(host, Script.of(*steps)).check(host.name)
        if "state" in changed:
            self._wait_healthy(host, spec, name, c.address, remove_on_failure=False)

    def delete_container(self, c: Change, ids: IdMap) -> None:
        host = self.resolve(c.before["host"], ids)
        base = c.address.split("~", 1)[0]
        service, replica = base.removeprefix("service.").split("[")
        name = container_name(self.stack, service, int(replica.rstrip("]")))
        if "~" in c.address:  # a leftover release
            self.pool.run(host, docker.remove(c.id or ""))
            return
        retain = self._retain(service)
        if c.action is Action.REPLACE:
            # destroy-first order: retire the old instance now (start-first already did it)
            old = instance_tag(c.before.get("release") or "", c.before.get("host_port"))
            retire = Command.of("sh", "-c", _TAG_OF + 't=$(tag_of "$1") || exit 0; [ "$t" = "$2" ] || exit 0; '
                                'docker stop "$1" >/dev/null && docker rm -f "$1.$t" >/dev/null 2>&1; '
                                'docker rename "$1" "$1.$t"', "retire", name, old)
            self.pool.run(host, Script.of(retire, Command.of("sh", "-c", _PRUNE, "prune", base, str(retain))))
            return
        # the replica is gone from the stack: its active and kept releases go
        self.pool.run(host, Command.of("sh", "-c", 'docker ps -aq --filter "label=' + LABEL_ADDRESS + '=$1" | '
                                       'xargs -r docker rm -f >/dev/null', "remove", base))

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

    def _wait_healthy(self, host: HostAddress, spec: ContainerSpec, name: str, where: str,
                      *, remove_on_failure: bool = True) -> None:
        """Until Docker says healthy (or, without a health check, still running after a moment)."""
        limit = parse_duration(spec.health["deadline"]) if spec.health else 3.0
        deadline = time.monotonic() + limit
        settle = time.monotonic() + 1.0
        while True:
            status = self.pool.run(host, docker.health_status(name), check=False).stdout.split()
            state, health = (status + ["?", "?"])[:2]
            if state == "running" and (health == "healthy" or (health == "none" and time.monotonic() >= settle)):
                return
            failed = state in ("exited", "dead") or health == "unhealthy"
            if failed or time.monotonic() >= deadline:
                why = ("exited" if state in ("exited", "dead") else "is unhealthy" if health == "unhealthy"
                       else f"was not healthy within {limit:g}s")
                raise self._unhealthy(host, spec, name, where, why, remove_on_failure)
            time.sleep(0.5)

    def _unhealthy(self, host: HostAddress, spec: ContainerSpec, name: str, where: str, why: str,
                   remove: bool) -> HostError:
        report = self.pool.run(host, Script.of(
            Command.of("docker", "inspect", "--format",
                       "{{if .State.Health}}{{range .State.Health.Log}}{{.Output}}{{end}}{{end}}", name),
            docker.logs_tail(name), stop_on_failure=False), check=False)
        health_out = report.steps[0].stdout.strip()[-600:]
        logs = (report.steps[1].stdout + report.steps[1].stderr).strip()[-1500:]
        if remove:
            self.pool.run(host, docker.remove(name), check=False)
        details = ""
        if health_out:
            details += f"last health check output:\n  {health_out}\n"
        if logs:
            details += "last log lines:\n" + "\n".join("  " + line for line in logs.splitlines()[-15:])
        kept = "; the previous release keeps serving" if remove else ""
        return HostError(f"release {spec.release} of {spec.address} on {host.name} {why}{kept}", where=where,
                         details=details or None, hint="check the app's health endpoint and logs")

    def _take_over(self, host: HostAddress, spec: ContainerSpec, temp: str) -> None:
        """The new instance takes the replica's name; the old one is stopped and kept under its tag."""
        name = container_name(self.stack, spec.service, spec.replica)
        program = (_TAG_OF + 'if docker inspect "$1" >/dev/null 2>&1; then t=$(tag_of "$1"); '
                   'if [ "$t" = "$3" ]; then docker rm -f "$2" >/dev/null 2>&1; exit 0; fi; '
                   'docker stop "$1" >/dev/null; docker rm -f "$1.$t" >/dev/null 2>&1; docker rename "$1" "$1.$t"; fi; '
                   'docker rename "$2" "$1"')
        steps = [Command.of("sh", "-c", program, "take-over", name, temp,
                            instance_tag(spec.release, spec.host_port)),
                 Command.of("sh", "-c", _PRUNE, "prune", spec.address, str(self._retain(spec.service)))]
        self.pool.run(host, Script.of(*steps)).check(host.name)
