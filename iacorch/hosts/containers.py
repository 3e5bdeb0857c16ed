"""A service replica as data, and how it becomes ``docker run`` arguments.

The stack's Service model owns the meaning of its fields; this module owns the
translation to Docker (like Kamal's configuration objects: a volume knows its
``-v`` flags). Everything here is pure.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Mapping

from iacorch.resources import digest
from iacorch.stack.services import HealthCheck, Service

LABEL_STACK = "iacorch.stack"
LABEL_SERVICE = "iacorch.service"
LABEL_REPLICA = "iacorch.replica"
LABEL_RELEASE = "iacorch.release"
LABEL_ADDRESS = "iacorch.address"
LABEL_SPEC = "iacorch.spec"
LABEL_HOST_PORT = "iacorch.host-port"
SECRETS_DIR = "/run/iacorch/secrets"

# A replica's port is published on a fixed host port from a pair of slots, so a new
# release (other slot) can start beside the old one and the load balancer knows both
# addresses in advance: pair k is SLOT_PORT_BASE + 2k (slot a) and + 2k + 1 (slot b).
# A health check on another container port is published CHECK_PORT_OFFSET above.
SLOT_PORT_BASE = 20000
CHECK_PORT_OFFSET = 10000


def is_slot_port(port: object) -> bool:
    return isinstance(port, int) and SLOT_PORT_BASE <= port < SLOT_PORT_BASE + CHECK_PORT_OFFSET


def slot_of(host_port: int) -> tuple[int, int]:
    """(pair, slot) of a slot port."""
    return divmod(host_port - SLOT_PORT_BASE, 2)


def slot_port(pair: int, slot: int) -> int:
    return SLOT_PORT_BASE + 2 * pair + slot


def check_port_of(health: Mapping[str, Any] | None, port: int | None) -> int | None:
    """The container port a health check probes, when it is not the traffic port."""
    if not health:
        return None
    other = health.get("port") if health.get("http") is not None else health.get("tcp")
    return other if other is not None and other != port else None


def container_name(stack: str, service: str, replica: int) -> str:
    """The name of a replica's active container; other releases carry a suffix."""
    return f"{stack}-{service}-{replica}"


def instance_tag(release: str, host_port: int | None) -> str:
    """Tells two containers of one replica apart: the release, and the slot port it publishes on
    (the same release is started again on the other slot when only its port changes)."""
    return f"{release}-{host_port}" if host_port else release


def release_name(stack: str, service: str, replica: int, release: str, host_port: int | None = None) -> str:
    """The name of a replica's container that is not (or no longer) the active one."""
    return f"{container_name(stack, service, replica)}.{instance_tag(release, host_port)}"


def candidate_name(stack: str, service: str, replica: int, release: str, host_port: int | None = None) -> str:
    """The name a new instance starts under, beside the active one, until it takes over."""
    return f"{container_name(stack, service, replica)}.new-{instance_tag(release, host_port)}"


def env_file(stack: str, service: str, replica: int, release: str, host_port: int | None = None) -> str:
    """Secrets reach the container through an env file on the host's tmpfs (0600), never argv."""
    return f"{SECRETS_DIR}/{release_name(stack, service, replica, release, host_port)}.env"


def health_command(health: HealthCheck, service_port: int | None) -> list[str]:
    """The Docker HEALTHCHECK test, run inside the container.

    http and tcp checks try the tools a small image is likely to have (curl,
    wget, nc), so the same check works in Debian, Alpine and busybox images.
    """
    if health.command is not None:
        return ["CMD", *health.command]
    if health.http is not None:
        port = health.port or service_port
        url = f"http://127.0.0.1:{port}{health.http}"
        q = shlex.quote(url)
        return ["CMD-SHELL", f"curl -fsS -o /dev/null {q} 2>/dev/null || wget -q -O /dev/null {q}"]
    port = health.tcp
    return ["CMD-SHELL", f"nc -z 127.0.0.1 {port} 2>/dev/null || (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null"]


@dataclass(frozen=True)
class ContainerSpec:
    """Everything that defines one release of one replica (its digest is the release id)."""

    stack: str
    service: str
    replica: int
    image: str
    env: Mapping[str, str]
    secrets: Mapping[str, str]  # NAME -> reference; values are resolved at apply, never stored here
    port: int | None
    ports: tuple[str, ...]
    volumes: tuple[str, ...]
    command: tuple[str, ...] | None
    restart: str
    health: Mapping[str, Any] | None
    cpus: float | None
    memory: int | None
    labels: Mapping[str, str]
    host_port: int | None = None  # the slot port the service port is published on

    @classmethod
    def of(cls, stack: str, name: str, svc: Service, replica: int, image: str,
           cpus: float | None = None, memory: int | None = None, host_port: int | None = None) -> "ContainerSpec":
        res = svc.resources
        return cls(
            stack=stack, service=name, replica=replica, image=image,
            env=dict(sorted(svc.env.items())), secrets=dict(sorted(svc.secrets.items())),
            port=svc.port, ports=tuple(svc.ports), volumes=tuple(svc.volumes),
            command=tuple(svc.command) if svc.command else None, restart=svc.restart,
            health=svc.health.model_dump(mode="json") if svc.health else None,
            cpus=cpus if cpus is not None else (res.cpus if res else None),
            memory=memory if memory is not None else (res.memory if res else None),
            labels=dict(sorted(svc.labels.items())), host_port=host_port,
        )

    def defining(self) -> dict[str, Any]:
        """What a new release is made of (limits are not: they change in place)."""
        return {"image": self.image, "env": dict(self.env), "secrets": dict(self.secrets), "port": self.port,
                "ports": list(self.ports), "volumes": list(self.volumes),
                "command": list(self.command) if self.command else None, "restart": self.restart,
                "health": self.health, "labels": dict(self.labels)}

    @property
    def release(self) -> str:
        return digest(self.defining(), 12)

    @property
    def address(self) -> str:
        return f"service.{self.service}[{self.replica}]"

    def labels_all(self) -> dict[str, str]:
        return {**self.labels, LABEL_STACK: self.stack, LABEL_SERVICE: self.service,
                LABEL_REPLICA: str(self.replica), LABEL_RELEASE: self.release, LABEL_ADDRESS: self.address,
                LABEL_HOST_PORT: str(self.host_port or "")}

    def run_args(self, name: str, *, env_file_path: str | None = None) -> list[str]:
        """``docker run`` arguments (after ``docker``) for this release under ``name``."""
        # --init: a small init as PID 1 passes SIGTERM on, so apps that ignore it as PID 1 still stop
        args = ["run", "--detach", "--init", "--name", name, "--restart", self.restart]
        for key, value in self.labels_all().items():
            args += ["--label", f"{key}={value}"]
        args += ["--label", f"{LABEL_SPEC}={spec_label(self)}"]
        for key, value in self.env.items():
            args += ["--env", f"{key}={value}"]
        if env_file_path:
            args += ["--env-file", env_file_path]
        args += ["--env", f"IACORCH_REPLICA={self.replica}", "--env", f"IACORCH_RELEASE={self.release}"]
        if self.port is not None:
            args += ["--publish", f"{self.host_port}:{self.port}" if self.host_port else str(self.port)]
            check = check_port_of(self.health, self.port)
            if check is not None and self.host_port:
                args += ["--publish", f"{self.host_port + CHECK_PORT_OFFSET}:{check}"]
        for spec in self.ports:
            args += ["--publish", spec]
        for volume in self.volumes:
            args += ["--volume", volume]
        if self.cpus is not None:
            args += ["--cpus", f"{self.cpus:g}"]
        if self.memory is not None:
            args += ["--memory", str(self.memory)]
        if self.health:
            h = self.health
            test = health_command(HealthCheck.model_validate(h), self.port)
            args += ["--health-cmd", test[1] if test[0] == "CMD-SHELL" else shlex.join(test[1:]),
                     "--health-interval", f"{h['interval']}",
                     "--health-timeout", f"{h['timeout']}",
                     "--health-retries", str(h["unhealthy"]),
                     "--health-start-period", f"{h['start_period']}"]
        args.append(self.image)
        if self.command:
            args += list(self.command)
        return args


def spec_label(spec: ContainerSpec) -> str:
    import json

    return json.dumps({"release": spec.release, **spec.defining()}, sort_keys=True, separators=(",", ":"))


def spec_from_attrs(stack: str, address: str, attrs: dict[str, Any]) -> ContainerSpec:
    """Rebuild a replica's spec from a plan's attributes (a saved plan applies exactly these)."""
    service, _, rest = address.removeprefix("service.").partition("[")
    replica = int(rest.split("]", 1)[0])
    return ContainerSpec(
        stack=stack, service=service, replica=replica, image=attrs["image"], env=attrs.get("env") or {},
        secrets=attrs.get("secrets") or {}, port=attrs.get("port"), ports=tuple(attrs.get("ports") or ()),
        volumes=tuple(attrs.get("volumes") or ()),
        command=tuple(attrs["command"]) if attrs.get("command") else None, restart=attrs["restart"],
        health=attrs.get("health"), cpus=attrs.get("cpus"), memory=attrs.get("memory"),
        labels=attrs.get("labels") or {}, host_port=attrs.get("host_port"))
