"""What one round trip per host reads, and the parsers of its output.

A fact is a (command, parser) pair; ``host_facts_script`` batches them into one
Script so observing a host costs one SSH exec. Parsers take recorded output
and are tested without SSH.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from iacorch.command import Command, Script, ScriptResult, StepResult
from iacorch.hosts import docker
from iacorch.hosts.containers import (
    LABEL_ADDRESS, LABEL_HOST_PORT, LABEL_RELEASE, LABEL_REPLICA, LABEL_SERVICE, LABEL_SPEC,
)


@dataclass(frozen=True)
class ContainerFacts:
    id: str
    name: str
    service: str
    replica: int
    release: str | None
    address: str | None
    state: str  # running | exited | created | restarting | paused | dead
    health: str | None  # healthy | unhealthy | starting | None (no health check)
    health_output: str
    exit_code: int
    started_at: str
    image: str
    env: Mapping[str, str]
    cpus: float | None
    memory: int | None
    host_port: int | None  # where the service port is published
    spec: Mapping[str, Any] | None  # what we created it from (label), None if not ours / made by hand
    restart_count: int


def parse_containers(text: str) -> list[ContainerFacts]:
    """``docker inspect`` JSON of the stack's containers."""
    text = text.strip()
    if not text:
        return []
    out = []
    for item in json.loads(text):
        labels = item.get("Config", {}).get("Labels") or {}
        service = labels.get(LABEL_SERVICE)
        if service is None or not labels.get(LABEL_REPLICA, "").isdigit():
            continue
        state = item.get("State", {})
        health = state.get("Health") or None
        log = (health or {}).get("Log") or []
        host_config = item.get("HostConfig", {})
        spec = None
        if labels.get(LABEL_SPEC):
            try:
                spec = json.loads(labels[LABEL_SPEC])
            except ValueError:
                spec = None
        env = {}
        for pair in item.get("Config", {}).get("Env") or []:
            key, _, value = pair.partition("=")
            env[key] = value
        managed = set((spec or {}).get("env", {}))
        out.append(ContainerFacts(
            id=item["Id"], name=item.get("Name", "").lstrip("/"), service=service,
            replica=int(labels[LABEL_REPLICA]), release=labels.get(LABEL_RELEASE),
            address=labels.get(LABEL_ADDRESS), state=state.get("Status", "unknown"),
            health=health.get("Status") if health else None,
            health_output=(log[-1].get("Output", "") if log else "").strip()[-500:],
            exit_code=int(state.get("ExitCode", 0) or 0), started_at=state.get("StartedAt", ""),
            image=item.get("Config", {}).get("Image", ""),
            env={k: v for k, v in env.items() if k in managed},  # never the secrets from the env file
            cpus=(host_config.get("NanoCpus") or 0) / 1e9 or None,
            memory=host_config.get("Memory") or None,
            # the slot port it was started on (a stopped container has no live port bindings)
            host_port=int(labels[LABEL_HOST_PORT]) if labels.get(LABEL_HOST_PORT, "").isdigit()
            else _published_port(item, (spec or {}).get("port")),
            spec=spec, restart_count=int(item.get("RestartCount", 0) or 0),
        ))
    return sorted(out, key=lambda c: (c.service, c.replica, c.name))


def _published_port(item: dict, port: int | None) -> int | None:
    if port is None:
        return None
    bindings = (item.get("NetworkSettings", {}).get("Ports") or {}).get(f"{port}/tcp") or []
    for b in bindings:
        if b.get("HostIp") in ("0.0.0.0", "", "::") and b.get("HostPort"):
            return int(b["HostPort"])
    return int(bindings[0]["HostPort"]) if bindings and bindings[0].get("HostPort") else None


def parse_version(text: str) -> str | None:
    v = text.strip().splitlines()[-1].strip() if text.strip() else ""
    return v or None


def parse_images(text: str) -> dict[str, str]:
    """``repo:tag id`` lines -> {ref: id}."""
    out = {}
    for line in text.splitlines():
        ref, _, ident = line.strip().partition(" ")
        if ref and ident and "<none>" not in ref:
            out[ref] = ident
    return out


def parse_capacity(text: str) -> dict[str, int]:
    lines = [x.strip() for x in text.split() if x.strip()]
    if len(lines) < 2 or not all(x.isdigit() for x in lines[:2]):
        return {}
    return {"cpus": int(lines[0]), "memory": int(lines[1])}


@dataclass(frozen=True)
class HostFacts:
    reachable: bool
    error: str | None = None
    docker: str | None = None  # server version, None when not installed/usable
    images: Mapping[str, str] = field(default_factory=dict)
    containers: tuple[ContainerFacts, ...] = ()
    capacity: Mapping[str, int] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)  # other layers' facts, by name


# extra facts other layers add to the same round trip: name -> (command, parser)
Fact = tuple[Command, Callable[[StepResult], Any]]


# systemd's own word on the machine: a host shutting down or still booting answers SSH while
# its Docker is gone or not up yet; that is not a host without Docker. Late in a shutdown the
# manager no longer answers at all (PID 1 is systemd-shutdown; "Failed to connect to bus") while
# sshd may still run a session: on a systemd-booted host (/run/systemd/system, as sd_booted()
# checks) no answer is "shutting down" too. A host without systemd prints nothing: ready.
SYSTEM_STATE = Command.shell("[ -d /run/systemd/system ] || exit 0; "
                             "echo \"systemd:$(systemctl is-system-running 2>/dev/null)\"; exit 0")
NOT_READY = {"stopping": "shutting down", "starting": "still booting", "initializing": "still booting",
             "offline": "shutting down", "unknown": "shutting down or broken", "": "shutting down"}


def system_not_ready(text: str) -> str | None:
    """Why a host is not ready by systemd's state line (``systemd:STATE``), or None when it is."""
    marker, _, state = text.strip().partition(":")
    if marker != "systemd" or state.strip() not in NOT_READY:
        return None
    state = state.strip()
    return f"{NOT_READY[state]} (systemd is {state or 'not answering'})"


def host_facts_script(stack: str, extra: Mapping[str, Fact] | None = None) -> Script:
    steps = [docker.version(), docker.images(), docker.containers_of(stack), docker.capacity()]
    steps += [cmd for cmd, _ in (extra or {}).values()]
    return Script.of(*steps, SYSTEM_STATE, stop_on_failure=False)


def parse_host_facts(result: ScriptResult, extra: Mapping[str, Fact] | None = None) -> HostFacts:
    version, images, containers, capacity, *rest = result.steps
    not_ready = system_not_ready(rest[len(extra or {})].stdout) if len(rest) > len(extra or {}) else None
    if not_ready:
        return HostFacts(reachable=False, error=not_ready)
    has_docker = version.exit_status == 0
    return HostFacts(
        reachable=True,
        docker=parse_version(version.stdout) if has_docker else None,
        images=parse_images(images.stdout) if images.exit_status == 0 else {},
        containers=tuple(parse_containers(containers.stdout)) if has_docker and containers.exit_status == 0 else (),
        capacity=parse_capacity(capacity.stdout) if capacity.exit_status == 0 else {},
        extra={name: parser(step) for (name, (_, parser)), step in zip((extra or {}).items(), rest)},
    )
