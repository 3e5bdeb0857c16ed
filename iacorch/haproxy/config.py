"""What HAProxy should serve on one host, as plain typed data. Pure: no I/O, no templates.

A ``HaproxyConfig`` holds every load balancer placed on a host: one ``Frontend`` per
load balancer (its port, mode, optional TLS, routes by Host header and path prefix, a
default backend) and the ``Backend`` each route leads to (algorithm, health check,
servers). ``templates/haproxy.cfg.j2`` renders it; ``iacorch.haproxy.from_stack`` builds it
from the stack model.

Every value ends up inside a config file, so each one is checked here: names use
HAProxy's name characters, hosts and paths carry no spaces or quotes, and no value (the
extra option lines included) can carry a newline into the next line of the config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from iacorch.errors import IacorchError

ADMIN_SOCKET = "/run/haproxy/admin.sock"
STATE_FILE = "/var/lib/haproxy/server-state"
CONFIG_PATH = "/etc/haproxy/haproxy.cfg"

Mode = Literal["http", "tcp"]
HASH_ALGORITHMS = ("source", "uri")  # and hdr(NAME): hashed, so they get consistent hashing
ALGORITHMS = ("roundrobin", "leastconn", "first", *HASH_ALGORITHMS)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")  # HAProxy proxy and server names
_HOST = re.compile(r"^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$")
_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")
_ADDRESS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*$")  # IPv4 address or host name
_HDR = re.compile(r"^hdr\([A-Za-z0-9-]+\)$")
_COOKIE = re.compile(r"^[A-Za-z0-9_-]+$")
_CERT_PATH = re.compile(r"^/[A-Za-z0-9._/-]+$")


class HaproxyConfigError(IacorchError):
    """A load balancer cannot be described as HAProxy config (a name, value or reference is wrong)."""


def _check(condition: bool, message: str, where: str) -> None:
    if not condition:
        raise HaproxyConfigError(message, where=where)


def _name(value: str, what: str, where: str) -> None:
    _check(isinstance(value, str) and bool(_NAME.match(value)),
           f"{what} {value!r} is not a valid HAProxy name (letters, digits and _ . : -)", where)


def _port(value: int, what: str, where: str) -> None:
    _check(isinstance(value, int) and 1 <= value <= 65535, f"{what} {value!r} is not a port (1-65535)", where)


def _positive(value: float, what: str, where: str) -> None:
    _check(isinstance(value, int | float) and value > 0, f"{what} must be positive, got {value!r}", where)


@dataclass(frozen=True)
class HealthProbe:
    """How HAProxy checks each server of a backend: an HTTP GET or a TCP connect."""

    kind: Literal["http", "tcp"]
    path: str | None = None  # http only
    interval: float = 2.0  # seconds: inter
    timeout: float = 1.0  # seconds: timeout check
    rise: int = 2
    fall: int = 3

    def __post_init__(self) -> None:
        where = "health check"
        _check(self.kind in ("http", "tcp"), f"unknown check kind {self.kind!r}", where)
        if self.kind == "http":
            _check(self.path is not None and bool(_PATH.match(self.path)),
                   f"http check path {self.path!r} must start with '/' and hold no spaces or quotes", where)
        else:
            _check(self.path is None, "a tcp check takes no path", where)
        _positive(self.interval, "check interval", where)
        _positive(self.timeout, "check timeout", where)
        _check(isinstance(self.rise, int) and self.rise >= 1, "rise must be at least 1", where)
        _check(isinstance(self.fall, int) and self.fall >= 1, "fall must be at least 1", where)

    @property
    def time_to_down(self) -> float:
        """The longest a dead server stays UP: ``fall`` failed checks, one every ``interval``."""
        return self.fall * self.interval + self.timeout


@dataclass(frozen=True)
class Server:
    """One replica behind a backend. ``name`` is stable (from the replica), so the runtime
    API can address it and a reload keeps its state."""

    name: str
    address: str
    port: int
    check_port: int | None = None  # health checks on another port than traffic
    maxconn: int | None = None

    def __post_init__(self) -> None:
        where = f"server {self.name}"
        _name(self.name, "server name", where)
        _check(isinstance(self.address, str) and bool(_ADDRESS.match(self.address)),
               f"server address {self.address!r} is not an IPv4 address or host name", where)
        _port(self.port, "server port", where)
        if self.check_port is not None:
            _port(self.check_port, "check port", where)
        if self.maxconn is not None:
            _check(isinstance(self.maxconn, int) and self.maxconn >= 1, "server maxconn must be at least 1", where)


@dataclass(frozen=True)
class Backend:
    """A service as seen by one load balancer: its servers and how traffic is spread."""

    name: str
    service: str
    mode: Mode = "http"
    algorithm: str = "roundrobin"
    servers: tuple[Server, ...] = ()
    health: HealthProbe | None = None  # None: servers are not checked
    connect_timeout: float = 5.0
    server_timeout: float = 30.0
    sticky_cookie: str | None = None  # insert a cookie naming the server (http only)
    extra_lines: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        where = f"backend {self.name}"
        _name(self.name, "backend name", where)
        _check(self.mode in ("http", "tcp"), f"unknown mode {self.mode!r}", where)
        _check(self.algorithm in ALGORITHMS or bool(_HDR.match(self.algorithm)),
               f"unknown algorithm {self.algorithm!r}; expected one of {', '.join(ALGORITHMS)} or hdr(NAME)",
               where)
        _check(self.mode == "http" or not (self.algorithm == "uri" or self.algorithm.startswith("hdr(")),
               f"algorithm {self.algorithm} needs mode http", where)
        _positive(self.connect_timeout, "connect timeout", where)
        _positive(self.server_timeout, "server timeout", where)
        if self.sticky_cookie is not None:
            _check(self.mode == "http", "cookie stickiness needs mode http", where)
            _check(bool(_COOKIE.match(self.sticky_cookie)), f"cookie name {self.sticky_cookie!r} is not a token",
                   where)
        names = [server.name for server in self.servers]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        _check(not duplicates, f"server names must be unique, {', '.join(duplicates)} repeats", where)
        for line in self.extra_lines:
            _check(isinstance(line, str) and "\n" not in line and "\r" not in line and line.strip() != "",
                   f"an extra option line must be one non-empty line, got {line!r}", where)

    @property
    def hashed(self) -> bool:
        return self.algorithm in HASH_ALGORITHMS or self.algorithm.startswith("hdr(")


@dataclass(frozen=True)
class Route:
    """Requests whose Host header is ``host`` (any host when None) and whose path is
    ``path`` or starts with ``path/`` go to ``backend``."""

    backend: str
    host: str | None = None
    path: str = "/"

    def __post_init__(self) -> None:
        where = f"route to {self.backend}"
        if self.host is not None:
            _check(bool(_HOST.match(self.host)), f"route host {self.host!r} is not a host name", where)
        _check(bool(_PATH.match(self.path)), f"route path {self.path!r} must start with '/' and hold no spaces",
               where)

    @property
    def prefix(self) -> str:
        """The path without a trailing slash ("" for the root)."""
        return self.path.rstrip("/")

    @property
    def specificity(self) -> tuple:
        """Sort key: a host before no host, then the longest path first (like an Ingress)."""
        return (self.host is None, -len(self.prefix), self.host or "", self.prefix, self.backend)


@dataclass(frozen=True)
class Tls:
    """TLS termination on ``port`` with a PEM (certificate and key) already on the host."""

    cert_path: str
    port: int = 443
    redirect_http: bool = True

    def __post_init__(self) -> None:
        _check(bool(_CERT_PATH.match(self.cert_path)),
               f"certificate path {self.cert_path!r} must be absolute, without spaces", "tls")
        _port(self.port, "TLS port", "tls")


@dataclass(frozen=True)
class Frontend:
    """One load balancer's listener."""

    name: str
    port: int
    mode: Mode = "http"
    maxconn: int = 2000
    client_timeout: float = 30.0
    routes: tuple[Route, ...] = ()
    default_backend: str | None = None
    tls: Tls | None = None
    access_log: bool = True  # a log line per request (httplog / tcplog) to /dev/log (journald)

    def __post_init__(self) -> None:
        where = f"frontend {self.name}"
        _name(self.name, "frontend name", where)
        _port(self.port, "listen port", where)
        _check(self.mode in ("http", "tcp"), f"unknown mode {self.mode!r}", where)
        _check(isinstance(self.maxconn, int) and self.maxconn >= 1, "maxconn must be at least 1", where)
        _positive(self.client_timeout, "client timeout", where)
        _check(bool(self.routes) or self.default_backend is not None, "a frontend needs routes or a default backend",
               where)
        if self.mode == "tcp":
            _check(all(r.host is None and r.prefix == "" for r in self.routes), "host and path routes need mode http",
                   where)
            _check(self.tls is None or not self.tls.redirect_http, "an http redirect needs mode http", where)
        if self.tls is not None:
            _check(self.tls.port != self.port, f"the TLS port {self.tls.port} is also the plain port", where)

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port,) if self.tls is None else (self.port, self.tls.port)

    @property
    def ordered_routes(self) -> tuple[Route, ...]:
        """Most specific first, so the first matching rule is the one an Ingress would pick."""
        return tuple(sorted(self.routes, key=lambda route: route.specificity))


@dataclass(frozen=True)
class HaproxyConfig:
    """Everything one HAProxy host serves. Build it with ``from_stack.haproxy_config``."""

    frontends: tuple[Frontend, ...]
    backends: tuple[Backend, ...]
    stats_ports: tuple[int, ...] = (8404,)
    maxconn: int | None = None  # global; default: the frontends' maxconn summed
    admin_socket: str = ADMIN_SOCKET
    state_file: str = STATE_FILE
    _index: dict[str, Backend] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = "haproxy config"
        names = [proxy.name for proxy in (*self.frontends, *self.backends)] + ["stats"]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        _check(not duplicates, f"frontend and backend names must be unique, {', '.join(duplicates)} repeats",
               where)
        ports = [port for frontend in self.frontends for port in frontend.ports]
        clash = sorted({port for port in ports if ports.count(port) > 1})
        _check(not clash, f"two listeners on port {', '.join(map(str, clash))} of the same host", where)
        for port in self.stats_ports:
            _port(port, "stats port", where)
            _check(port not in ports, f"the stats port {port} is also a listen port", where)
        index = {backend.name: backend for backend in self.backends}
        object.__setattr__(self, "_index", index)
        for frontend in self.frontends:
            targets = [route.backend for route in frontend.routes] + [frontend.default_backend]
            for target in filter(None, targets):
                _check(target in index, f"frontend {frontend.name} routes to unknown backend {target!r}", where)
                _check(index[target].mode == frontend.mode,
                       f"frontend {frontend.name} ({frontend.mode}) routes to backend {target} "
                       f"({index[target].mode})", where)
        if self.maxconn is not None:
            _check(isinstance(self.maxconn, int) and self.maxconn >= 1, "global maxconn must be at least 1", where)

    @property
    def global_maxconn(self) -> int:
        return self.maxconn if self.maxconn is not None else sum(f.maxconn for f in self.frontends) + 100

    def backend(self, name: str) -> Backend:
        return self._index[name]

    def servers_of(self, service: str, server: str | None = None) -> list[tuple[str, str]]:
        """``(backend, server)`` pairs for a service's servers (one replica: pass its server name):
        what the runtime API needs to drain or enable a replica on every load balancer."""
        return [(backend.name, item.name) for backend in self.backends if backend.service == service
                for item in backend.servers if server is None or item.name == server]
