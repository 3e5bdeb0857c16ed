"""The container side of the stack format: services and load balancers."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from iacorch.stack.infra import Spec
from iacorch.stack.units import CountOrPercent, Duration, Size

SECRET_SCHEMES = ("env", "file", "ssm", "secretsmanager")
_PORT_SPEC = re.compile(r"^(?:(\d+):)?(\d+)(?:/(tcp|udp))?$")


class HealthCheck(Spec):
    http: str | None = Field(None, description="path answered with 2xx/3xx when healthy, e.g. /healthz")
    tcp: int | None = Field(None, ge=1, le=65535, description="port that must accept connections")
    command: list[str] | None = Field(None, description="command run in the container; exit 0 is healthy")
    port: int | None = Field(None, ge=1, le=65535, description="port for http checks (default: the service port)")
    interval: Duration = 2.0
    timeout: Duration = 1.0
    healthy: int = Field(2, ge=1, description="consecutive passes to become healthy (rise)")
    unhealthy: int = Field(3, ge=1, description="consecutive failures to become unhealthy (fall)")
    start_period: Duration = 0.0
    deadline: Duration = Field(60.0, description="a new container must be healthy within this long")

    @field_validator("command", mode="before")
    @classmethod
    def _command(cls, value: Any) -> Any:
        return ["sh", "-c", value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_kind(self) -> "HealthCheck":
        if sum(x is not None for x in (self.http, self.tcp, self.command)) != 1:
            raise ValueError("a health check needs exactly one of http, tcp or command")
        if self.http is not None and not self.http.startswith("/"):
            raise ValueError(f"http health path must start with '/', got {self.http!r}")
        return self


class UpdatePolicy(Spec):
    strategy: Literal["rolling", "recreate"] = "rolling"
    max_surge: CountOrPercent = 1
    max_unavailable: CountOrPercent = 0
    order: Literal["start-first", "stop-first"] = "start-first"
    delay: Duration = 0.0
    monitor: Duration = Field(0.0, description="how long each switched replica is watched (must stay healthy) "
                              "before the next batch; a canary is watched this long before it is promoted")
    on_failure: Literal["rollback", "pause"] = "rollback"
    max_failure_ratio: float = Field(0.0, ge=0, le=1)
    drain_timeout: Duration = 10.0
    canary: int = Field(0, ge=0, description="run N new replicas beside the old before rolling the rest")
    auto_promote: bool = Field(False, description="promote a healthy canary after `monitor` without a person")
    retain: int = Field(5, ge=1, description="releases kept (stopped) for rollback")

    @model_validator(mode="after")
    def _progress(self) -> "UpdatePolicy":
        if self.strategy == "rolling" and self.max_surge in (0, "0%") and self.max_unavailable in (0, "0%"):
            raise ValueError("max_surge and max_unavailable cannot both be 0: the rollout could never progress")
        return self


class ResourceBounds(Spec):
    cpus: float | None = Field(None, gt=0)
    memory: Size | None = None


class Resources(Spec):
    cpus: float | None = Field(None, gt=0, description="CPU limit (docker --cpus)")
    memory: Size | None = Field(None, description="memory limit (docker --memory)")
    auto: bool = Field(False, description="vertical autoscaling within min..max, with docker update")
    min: ResourceBounds | None = None
    max: ResourceBounds | None = None

    @model_validator(mode="after")
    def _auto(self) -> "Resources":
        if self.auto and (self.min is None or self.max is None):
            raise ValueError("resources.auto needs min and max")
        return self


class Autoscale(Spec):
    min: int = Field(..., ge=0)
    max: int = Field(..., ge=1)
    cpu_target: float | None = Field(None, gt=0, le=100, description="target CPU % of the cpus limit")
    requests_per_replica: float | None = Field(None, gt=0, description="target requests/s per replica")
    tolerance: float = Field(0.1, ge=0, lt=1)
    scale_down_window: Duration = Field(60.0, description="stabilization window before scaling down")
    cooldown: Duration = 15.0

    @model_validator(mode="after")
    def _metric(self) -> "Autoscale":
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if (self.cpu_target is None) == (self.requests_per_replica is None):
            raise ValueError("autoscale needs exactly one target: cpu_target or requests_per_replica")
        return self


class Service(Spec):
    image: str | None = Field(None, description="image pulled from a registry")
    build: str | None = Field(None, description="directory with a Dockerfile, relative to the stack file")
    group: str
    mode: Literal["replicated", "global"] = "replicated"
    replicas: int = Field(1, ge=0)
    port: int | None = Field(None, ge=1, le=65535, description="port the app listens on in the container")
    ports: list[str] = Field(default_factory=list, description="published ports, HOST:CONTAINER[/proto]")
    env: dict[str, str] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(default_factory=dict, description="NAME: scheme:ref (env, file, ssm, secretsmanager)")
    command: list[str] | None = None
    volumes: list[str] = Field(default_factory=list, description="NAME:/path or /host/path:/path[:ro]")
    restart: Literal["no", "always", "unless-stopped", "on-failure"] = "unless-stopped"
    health: HealthCheck | None = None
    update: UpdatePolicy = UpdatePolicy()
    resources: Resources | None = None
    autoscale: Autoscale | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("env", mode="before")
    @classmethod
    def _env_strings(cls, value: Any) -> Any:
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if isinstance(v, bool):
                    v = "true" if v else "false"
                elif isinstance(v, (int, float)):
                    v = str(v)
                elif v is None:
                    v = ""
                out[k] = v
            return out
        return value

    @field_validator("command", mode="before")
    @classmethod
    def _command(cls, value: Any) -> Any:
        return ["sh", "-c", value] if isinstance(value, str) else value

    @field_validator("ports")
    @classmethod
    def _ports(cls, value: list[str]) -> list[str]:
        for spec in value:
            if not _PORT_SPEC.match(str(spec)):
                raise ValueError(f"{spec!r}: expected HOST:CONTAINER or CONTAINER, optionally /tcp or /udp")
        return value

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, value: dict[str, str]) -> dict[str, str]:
        for name, ref in value.items():
            scheme = ref.split(":", 1)[0] if ":" in ref else ""
            if scheme not in SECRET_SCHEMES:
                # never echo the value: it may be the secret itself, pasted by mistake
                raise ValueError(
                    f"secret {name} is not a reference; expected one of "
                    + ", ".join(f"{s}:..." for s in SECRET_SCHEMES) + " (never put the value itself here)")
        return value

    @field_validator("volumes")
    @classmethod
    def _volumes(cls, value: list[str]) -> list[str]:
        for spec in value:
            parts = spec.split(":")
            if len(parts) not in (2, 3) or not parts[1].startswith("/") or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
                raise ValueError(f"{spec!r}: expected NAME:/container/path or /host/path:/container/path[:ro]")
        return value

    @model_validator(mode="after")
    def _source(self) -> "Service":
        if bool(self.image) == bool(self.build):
            raise ValueError("a service needs exactly one of image or build")
        if self.health and self.health.http is not None and self.health.port is None and self.port is None:
            raise ValueError("an http health check needs the service's port (or health.port)")
        return self


class Route(Spec):
    service: str
    host: str | None = Field(None, description="Host header to match")
    path: str = Field("/", description="path prefix to match")

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/") or any(ch.isspace() for ch in value):
            raise ValueError(f"a route path starts with '/' and has no spaces, got {value!r}")
        return value

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9*]([A-Za-z0-9.*-]*[A-Za-z0-9])?", value):
            raise ValueError(f"{value!r} is not a host name (no port, scheme or spaces), e.g. shop.example.com")
        return value


class Tls(Spec):
    cert: str = Field(..., description="PEM file with certificate and key, relative to the stack file")
    port: int = Field(443, ge=1, le=65535)
    redirect_http: bool = Field(True, description="answer plain http with a redirect to https")


class Timeouts(Spec):
    connect: Duration = 5.0
    client: Duration = 30.0
    server: Duration = 30.0


class Sticky(Spec):
    cookie: str = "IACORCH_SRV"


ALGORITHMS = ("roundrobin", "leastconn", "source", "uri", "first")
_HDR = re.compile(r"^hdr\([A-Za-z0-9-]+\)$")


class LoadBalancer(Spec):
    kind: Literal["haproxy", "aws-alb"] = "haproxy"
    group: str | None = Field(None, description="group whose hosts run HAProxy (haproxy kind)")
    listen: int = Field(80, ge=1, le=65535)
    mode: Literal["http", "tcp"] = "http"
    algorithm: str = "roundrobin"
    service: str | None = Field(None, description="default backend when no route matches")
    routes: list[Route] = Field(default_factory=list)
    tls: Tls | None = None
    timeouts: Timeouts = Timeouts()
    maxconn: int = Field(2000, ge=1)
    sticky: Sticky | None = None
    stats_port: int = Field(8404, ge=1, le=65535, description="local-only stats page on the LB host")
    options: list[str] = Field(default_factory=list, description="extra HAProxy lines for each backend")

    @field_validator("algorithm")
    @classmethod
    def _algorithm(cls, value: str) -> str:
        if value not in ALGORITHMS and not _HDR.match(value):
            raise ValueError(f"unknown algorithm {value!r}; expected one of {', '.join(ALGORITHMS)} or hdr(NAME)")
        return value

    @model_validator(mode="after")
    def _shape(self) -> "LoadBalancer":
        if not self.routes and not self.service:
            raise ValueError("a load balancer needs a service or routes")
        if self.kind == "haproxy" and not self.group:
            raise ValueError("a haproxy load balancer needs a group to run on")
        if self.mode == "tcp" and any(r.host or r.path != "/" for r in self.routes):
            raise ValueError("host and path routes need mode: http")
        if self.mode == "tcp" and (self.algorithm == "uri" or self.algorithm.startswith("hdr(")):
            raise ValueError(f"algorithm {self.algorithm} needs mode: http")
        if self.mode == "tcp" and self.sticky is not None:
            raise ValueError("sticky sessions (a cookie) need mode: http")
        if self.mode == "tcp" and self.tls is not None and "redirect_http" in self.tls.model_fields_set \
                and self.tls.redirect_http:
            raise ValueError("tls.redirect_http needs mode: http (a tcp listener cannot redirect)")
        ports = [self.listen, *([self.tls.port] if self.tls else [])]
        if self.stats_port in ports:
            raise ValueError(f"stats_port {self.stats_port} is also a listening port")
        for line in self.options:
            if "\n" in line or "\r" in line:
                raise ValueError("each entry of options is one HAProxy line; split it into several entries")
        return self
