"""From the stack model (load balancers, services) and the services' endpoints to a ``HaproxyConfig``.

Pure. The caller says where each replica answers (an ``Endpoint``: a stable server name,
the address and port reachable from the load balancer host); everything else comes from
the stack: algorithm, routes, TLS, timeouts, stickiness, extra lines, and the health
check of each service (http path or tcp connect, interval, timeout, rise, fall).

The same inputs give the same config whatever order the endpoints come in: servers are
sorted by name (naturally: ``web-2`` before ``web-10``), backends by name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from iacorch.haproxy.config import (
    Backend,
    Frontend,
    HaproxyConfig,
    HaproxyConfigError,
    HealthProbe,
    Route,
    Server,
    Tls,
)
from iacorch.stack.services import HealthCheck, LoadBalancer, Service

CERT_DIR = "/etc/haproxy/certs"


@dataclass(frozen=True)
class Endpoint:
    """Where one replica answers, as the load balancer host reaches it."""

    name: str  # stable per replica, e.g. replica_server_name("web", 3)
    address: str
    port: int
    check_port: int | None = None  # the published port of health.port / health.tcp, when it differs

    @classmethod
    def of(cls, value: Endpoint | tuple) -> Endpoint:
        return value if isinstance(value, Endpoint) else cls(*value)


def replica_server_name(service: str, replica: int | str) -> str:
    """The server name of a replica: stable across releases, so the runtime API finds it and a
    reload keeps its state (DRAIN, MAINT, health)."""
    return f"{service}-{replica}"


def backend_name(load_balancer: str, service: str) -> str:
    return f"{load_balancer}.{service}"


def cert_path(load_balancer: str) -> str:
    """Where a load balancer's PEM (certificate and key) is kept on its hosts."""
    return f"{CERT_DIR}/{load_balancer}.pem"


def _natural(name: str) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def health_probe(health: HealthCheck | None) -> HealthProbe:
    """The HAProxy check for a service's health spec. A ``command`` check runs inside the
    container, out of HAProxy's reach: the servers then get a TCP connect check, and so do
    services without a health spec."""
    if health is None:
        return HealthProbe("tcp")
    timing = {"interval": health.interval, "timeout": health.timeout, "rise": health.healthy,
              "fall": health.unhealthy}
    if health.http is not None:
        return HealthProbe("http", path=health.http, **timing)
    return HealthProbe("tcp", **timing)


def _checked_port(service_name: str, service: Service) -> int | None:
    """The container port the health check probes, when it is not the traffic port."""
    health = service.health
    if health is None:
        return None
    port = health.port if health.http is not None else health.tcp
    return port if port is not None and port != service.port else None


def _servers(service_name: str, service: Service, endpoints: Iterable[Endpoint | tuple],
             where: str) -> tuple[Server, ...]:
    other_port = _checked_port(service_name, service)
    servers = []
    for endpoint in map(Endpoint.of, endpoints):
        if other_port is not None and endpoint.check_port is None:
            raise HaproxyConfigError(
                f"service {service_name} is checked on port {other_port}, not its traffic port; endpoint "
                f"{endpoint.name} needs check_port (that port as the load balancer reaches it)", where=where)
        servers.append(Server(endpoint.name, endpoint.address, endpoint.port, check_port=endpoint.check_port))
    return tuple(sorted(servers, key=lambda server: _natural(server.name)))


def load_balancer_proxies(name: str, lb: LoadBalancer, services: Mapping[str, Service],
                          endpoints: Mapping[str, Iterable[Endpoint | tuple]], *, certificate: str | None = None,
                          access_log: bool = True) -> tuple[Frontend, tuple[Backend, ...]]:
    """One load balancer's frontend and its backends (one per service it routes to)."""
    where = f"load_balancers.{name}"
    if lb.kind != "haproxy":
        raise HaproxyConfigError(f"load balancer {name} is of kind {lb.kind}, not haproxy", where=where)
    wanted = [route.service for route in lb.routes] + ([lb.service] if lb.service else [])
    backends = []
    for service_name in sorted(set(wanted)):
        service = services.get(service_name)
        if service is None:
            raise HaproxyConfigError(f"load balancer {name} routes to unknown service {service_name!r}", where=where)
        backends.append(Backend(
            name=backend_name(name, service_name), service=service_name, mode=lb.mode, algorithm=lb.algorithm,
            servers=_servers(service_name, service, endpoints.get(service_name, ()), where),
            health=health_probe(service.health), connect_timeout=lb.timeouts.connect,
            server_timeout=lb.timeouts.server, sticky_cookie=lb.sticky.cookie if lb.sticky else None,
            extra_lines=tuple(lb.options)))
    tls = None
    if lb.tls is not None:  # a redirect is HTTP: in tcp mode there is nothing to redirect
        tls = Tls(certificate or cert_path(name), port=lb.tls.port,
                  redirect_http=lb.tls.redirect_http and lb.mode == "http")
    frontend = Frontend(
        name=name, port=lb.listen, mode=lb.mode, maxconn=lb.maxconn, client_timeout=lb.timeouts.client,
        routes=tuple(Route(backend_name(name, r.service), r.host, r.path) for r in lb.routes),
        default_backend=backend_name(name, lb.service) if lb.service else None, tls=tls, access_log=access_log)
    return frontend, tuple(backends)


def haproxy_config(load_balancers: Mapping[str, LoadBalancer], services: Mapping[str, Service],
                   endpoints: Mapping[str, Iterable[Endpoint | tuple]], *,
                   certificates: Mapping[str, str] | None = None, access_log: bool = True) -> HaproxyConfig:
    """The config of a host that runs these load balancers (all those placed on its group).

    ``endpoints`` maps a service name to its replicas' endpoints, as ``Endpoint`` or
    ``(server name, address, port)`` tuples; ``certificates`` maps a load balancer with
    TLS to its PEM's path on the host (default ``/etc/haproxy/certs/NAME.pem``). Without
    ``access_log`` no line is logged per request (on a 2-core test machine, logging each request
    to journald took the LB's saturated throughput from about 29k to 20k requests/s).
    """
    if not load_balancers:
        raise HaproxyConfigError("a haproxy host needs at least one load balancer", where="haproxy config")
    frontends, backends = [], []
    for name in sorted(load_balancers):
        frontend, own = load_balancer_proxies(name, load_balancers[name], services, endpoints,
                                              certificate=(certificates or {}).get(name), access_log=access_log)
        frontends.append(frontend)
        backends.extend(own)
    stats_ports = tuple(sorted({lb.stats_port for lb in load_balancers.values()}))
    return HaproxyConfig(tuple(frontends), tuple(backends), stats_ports=stats_ports)
