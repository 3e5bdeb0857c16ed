"""HAProxy load balancers: config as data, rendered from a template, deployed and driven over SSH.

    config   = haproxy_config(load_balancers, services, endpoints)   # pure
    rendered = render_config(config)                                 # deterministic bytes + digest
    facts    = parse_facts(ssh.run(host, facts_command()).stdout)   # installed? version, live digest, active
    facts.changes(rendered)                                          # install / deploy / nothing, with reasons
    parse_install(ssh.run(host, install_haproxy()), host.name)       # apt, idempotent
    deploy_config(ssh, host, rendered)                               # validate on host, install, hitless reload
    RuntimeApi(ssh, host).drain("public.web", "web-2", timeout=10)   # runtime API
"""

from iacorch.haproxy.alerts import ConfigMessage, HaproxyConfigRejected
from iacorch.haproxy.config import (
    ADMIN_SOCKET,
    CONFIG_PATH,
    STATE_FILE,
    Backend,
    Frontend,
    HaproxyConfig,
    HaproxyConfigError,
    HealthProbe,
    Route,
    Server,
    Tls,
)
from iacorch.haproxy.deploy import ConfigDeployment, DeployOutcome, deploy_config, upload_certificate
from iacorch.haproxy.facts import HaproxyChanges, HaproxyFacts, facts_command, parse_facts
from iacorch.haproxy.from_stack import (
    Endpoint,
    backend_name,
    cert_path,
    haproxy_config,
    health_probe,
    load_balancer_proxies,
    replica_server_name,
)
from iacorch.haproxy.install import InstallOutcome, install_haproxy, parse_install
from iacorch.haproxy.render import RenderedConfig, render_config
from iacorch.haproxy.runtime import (
    DrainOutcome,
    RuntimeApi,
    RuntimeApiError,
    runtime_command,
    set_state_command,
)
from iacorch.haproxy.stats import (
    BackendStats,
    FrontendStats,
    HaproxyStats,
    ServerState,
    ServerStats,
    parse_servers_state,
    parse_show_stat,
)

__all__ = [
    "ADMIN_SOCKET", "CONFIG_PATH", "STATE_FILE", "Backend", "BackendStats", "ConfigDeployment", "ConfigMessage",
    "DeployOutcome", "DrainOutcome", "Endpoint", "Frontend", "FrontendStats", "HaproxyChanges", "HaproxyConfig",
    "HaproxyConfigError", "HaproxyConfigRejected", "HaproxyFacts", "HaproxyStats", "HealthProbe", "InstallOutcome",
    "RenderedConfig", "Route", "RuntimeApi", "RuntimeApiError", "Server", "ServerState", "ServerStats", "Tls",
    "backend_name", "cert_path", "deploy_config", "facts_command", "haproxy_config", "health_probe",
    "install_haproxy", "load_balancer_proxies", "parse_facts", "parse_install", "parse_servers_state",
    "parse_show_stat", "render_config", "replica_server_name", "runtime_command", "set_state_command",
    "upload_certificate",
]
