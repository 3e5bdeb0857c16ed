"""From load balancers and endpoints to haproxy.cfg: translation, determinism, safety, and haproxy -c."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck as Hypothesis
from hypothesis import given, settings
from hypothesis import strategies as st

from iacorch.haproxy import (
    Endpoint,
    HaproxyConfig,
    HaproxyConfigError,
    haproxy_config,
    health_probe,
    render_config,
    replica_server_name,
)
from iacorch.haproxy.render import haproxy_duration
from iacorch.stack.services import LoadBalancer, Service

HAPROXY = shutil.which("haproxy") or (Path("/usr/sbin/haproxy") if Path("/usr/sbin/haproxy").exists() else None)


def service(**health) -> Service:
    return Service(image="shop/web:1", group="app", port=8080, health=health or None)


SERVICES = {"web": service(http="/healthz", interval="500ms", timeout="1s", healthy=2, unhealthy=3),
            "api": service(tcp=8080, interval="2s", healthy=1, unhealthy=2),
            "jobs": service(command="test -e /ready"),
            "plain": Service(image="x", group="app", port=9000)}
ENDPOINTS = {"web": [(replica_server_name("web", i), f"10.0.0.{i % 3 + 1}", 32000 + i) for i in (10, 2, 1)],
             "api": [("api-0", "10.0.0.1", 31000)], "jobs": [], "plain": [("plain-0", "10.0.0.9", 9000)]}


def lb(**fields) -> LoadBalancer:
    return LoadBalancer(**{"group": "edge", "service": "web", **fields})


def rendered_text(load_balancers, endpoints=ENDPOINTS) -> str:
    return render_config(haproxy_config(load_balancers, SERVICES, endpoints)).text


# ------------------------------------------------------------------ translation


def test_a_load_balancer_becomes_a_frontend_and_one_backend_per_service():
    config = haproxy_config({"public": lb(routes=[{"service": "api", "host": "api.example.com"}])},
                            SERVICES, ENDPOINTS)
    (frontend,) = config.frontends
    assert (frontend.name, frontend.port, frontend.mode, frontend.default_backend) == ("public", 80, "http", "public.web")
    assert [b.name for b in config.backends] == ["public.api", "public.web"]
    web = config.backend("public.web")
    assert [s.name for s in web.servers] == ["web-1", "web-2", "web-10"]  # natural order, not input order
    assert (web.health.kind, web.health.path, web.health.interval, web.health.rise, web.health.fall) == (
        "http", "/healthz", 0.5, 2, 3)
    assert config.backend("public.api").health.kind == "tcp"
    assert config.servers_of("web", "web-2") == [("public.web", "web-2")]
    assert config.global_maxconn == 2100


def test_health_checks_follow_the_service_spec():
    assert health_probe(None).kind == "tcp"  # no spec: at least a connect check
    assert health_probe(SERVICES["jobs"].health).kind == "tcp"  # a command runs in the container: HAProxy connects
    probe = health_probe(SERVICES["api"].health)
    assert (probe.interval, probe.rise, probe.fall, probe.time_to_down) == (2.0, 1, 2, 5.0)


def test_the_rendered_config_has_the_runtime_api_state_file_and_a_local_stats_page():
    text = rendered_text({"public": lb(stats_port=9100)})
    assert "    stats socket /run/haproxy/admin.sock mode 660 level admin expose-fd listeners\n" in text
    assert "    server-state-file /var/lib/haproxy/server-state\n" in text
    assert "    load-server-state-from-file global\n" in text
    assert "listen stats\n    mode http\n    bind 127.0.0.1:9100\n" in text
    assert [line for line in text.splitlines() if line.startswith("    bind ") and "127.0.0.1" not in line] == [
        "    bind :80"]


def test_servers_carry_the_check_settings():
    text = rendered_text({"public": lb(routes=[{"service": "api", "path": "/api"}])})
    assert "    server web-1 10.0.0.2:32001 check inter 500ms rise 2 fall 3\n" in text
    assert "    server api-0 10.0.0.1:31000 check inter 2s rise 1 fall 2\n" in text
    assert "    option httpchk\n    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host localhost\n" in text
    assert text.count("option httpchk") == 1  # the tcp-checked api backend has none


def test_routes_most_specific_first_with_path_prefixes_on_element_boundaries():
    text = rendered_text({"public": lb(routes=[{"service": "web", "path": "/"},
                                              {"service": "api", "host": "shop.example.com", "path": "/api/"},
                                              {"service": "plain", "host": "*.example.com"},
                                              {"service": "api", "path": "/v1/api"}])})
    rules = [line.strip() for line in text.splitlines() if line.strip().startswith(("acl", "use_backend"))]
    assert rules == [
        "acl route0_host req.hdr(host),field(1,:) -i shop.example.com",
        "acl route0_path path -m str /api", "acl route0_path path -m beg /api/",
        "use_backend public.api if route0_host route0_path",
        "acl route1_host req.hdr(host),field(1,:) -i -m end .example.com",
        "use_backend public.plain if route1_host",
        "acl route2_path path -m str /v1/api", "acl route2_path path -m beg /v1/api/",
        "use_backend public.api if route2_path",
        "use_backend public.web",
    ]


def test_tls_sticky_timeouts_and_options():
    text = rendered_text({"public": lb(tls={"cert": "certs/shop.pem", "port": 8443}, sticky={"cookie": "SRV"},
                                       timeouts={"connect": "2s", "client": "1m", "server": "1500ms"}, maxconn=500,
                                       options=["option http-server-close", "timeout queue 5s"])})
    assert "    bind :8443 ssl crt /etc/haproxy/certs/public.pem alpn h2,http/1.1\n" in text
    assert "    http-request redirect scheme https code 301 unless { ssl_fc }\n" in text
    assert "    maxconn 500\n    timeout client 60s\n" in text
    assert "    timeout connect 2s\n    timeout server 1500ms\n" in text
    assert "    cookie SRV insert indirect nocache\n" in text and " cookie web-10\n" in text
    assert "    option http-server-close\n    timeout queue 5s\n" in text


def test_hash_algorithms_get_consistent_hashing_and_tcp_mode_no_http_lines():
    text = rendered_text({"db": lb(mode="tcp", algorithm="source", listen=5432, service="plain")})
    assert "    balance source\n    hash-type consistent\n" in text
    assert "    mode tcp\n" in text and "option tcplog" in text and "httplog" not in text and "forwardfor" not in text


def test_tls_in_tcp_mode_terminates_without_a_redirect():
    config = haproxy_config({"db": lb(mode="tcp", listen=5432, tls={"cert": "db.pem", "port": 5433})},
                            SERVICES, ENDPOINTS)
    assert config.frontends[0].tls.redirect_http is False
    text = render_config(config).text
    assert "    bind :5433 ssl crt /etc/haproxy/certs/db.pem\n" in text and "redirect" not in text


def test_access_log_can_be_turned_off():
    assert "    option httplog\n" in rendered_text({"public": lb()})
    quiet = render_config(haproxy_config({"public": lb()}, SERVICES, ENDPOINTS, access_log=False)).text
    assert "    no log\n" in quiet and "httplog" not in quiet and "    log global\n" in quiet


def test_two_load_balancers_on_one_host():
    config = haproxy_config({"public": lb(), "internal": lb(listen=8080, stats_port=8405, algorithm="leastconn")},
                            SERVICES, ENDPOINTS)
    assert [f.name for f in config.frontends] == ["internal", "public"]
    assert config.stats_ports == (8404, 8405)
    with pytest.raises(HaproxyConfigError, match="two listeners on port 80"):
        haproxy_config({"a": lb(), "b": lb()}, SERVICES, ENDPOINTS)


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize("fields, message", [
    ({"options": ["option httplog\nbind :22"]}, "one non-empty line"),
    ({"routes": [{"service": "web", "host": "shop.example.com use_backend x"}]}, "is not a host name"),
    ({"routes": [{"service": "web", "path": "/a b"}]}, "must start with '/'"),
    ({"service": "nope"}, "unknown service 'nope'"),
    ({"stats_port": 80}, "the stats port 80 is also a listen port"),
])
def test_values_that_would_break_the_config_are_refused(fields, message):
    # the stack model refuses these at validate time already; the config layer refuses them again,
    # so a value that slipped past (a model built in code) still cannot inject HAProxy lines
    from iacorch.stack.services import Route

    if "routes" in fields:
        fields = {**fields, "routes": [Route.model_construct(**{"path": "/", **r}) for r in fields["routes"]]}
    unchecked = lb().model_copy(update=fields)
    with pytest.raises(HaproxyConfigError, match=message):
        haproxy_config({"public": unchecked}, SERVICES, ENDPOINTS)


def test_duplicate_server_names_and_missing_check_ports_are_refused():
    with pytest.raises(HaproxyConfigError, match="web-1 repeats"):
        haproxy_config({"public": lb()}, SERVICES, {"web": [("web-1", "10.0.0.1", 1), ("web-1", "10.0.0.2", 1)]})
    services = {**SERVICES, "web": service(http="/healthz", port=9090)}
    with pytest.raises(HaproxyConfigError, match="endpoint web-1 needs check_port"):
        haproxy_config({"public": lb()}, services, {"web": [("web-1", "10.0.0.1", 32001)]})
    config = haproxy_config({"public": lb()}, services, {"web": [Endpoint("web-1", "10.0.0.1", 32001, 32002)]})
    assert " port 32002" in render_config(config).text


def test_durations():
    assert [haproxy_duration(s) for s in (5, 0.5, 1.25, 60, 0.001)] == ["5s", "500ms", "1250ms", "60s", "1ms"]
    with pytest.raises(ValueError):
        haproxy_duration(0.0001)


# ------------------------------------------------------------------ determinism


@settings(max_examples=50, deadline=None)
@given(st.randoms(use_true_random=False))
def test_same_inputs_same_bytes_whatever_the_endpoint_order(rng: random.Random):
    baseline = rendered_text({"public": lb(routes=[{"service": "api", "path": "/api"}])})
    shuffled = {name: rng.sample(list(items), len(items)) for name, items in ENDPOINTS.items()}
    assert rendered_text({"public": lb(routes=[{"service": "api", "path": "/api"}])}, shuffled) == baseline
    again = render_config(haproxy_config({"public": lb(routes=[{"service": "api", "path": "/api"}])}, SERVICES,
                                         shuffled))
    assert again.digest == render_config(haproxy_config({"public": lb(routes=[{"service": "api", "path": "/api"}])},
                                                        SERVICES, ENDPOINTS)).digest


def test_rendered_lines_map_back_to_their_section():
    rendered = render_config(haproxy_config({"public": lb()}, SERVICES, ENDPOINTS))
    number = rendered.lines.index("    server web-2 10.0.0.3:32002 check inter 500ms rise 2 fall 3") + 1
    assert rendered.section_of(number) == "backend public.web"
    assert rendered.section_line("public.web") == rendered.lines.index("backend public.web") + 1
    assert rendered.line(0) is None and rendered.line(len(rendered.lines) + 1) is None


# ------------------------------------------------------------------ haproxy -c on this machine


@pytest.fixture(scope="module")
def haproxy_check(tmp_path_factory):
    if HAPROXY is None:
        pytest.fail("haproxy is not installed here: apt-get install haproxy (make test installs it)")
    folder = tmp_path_factory.mktemp("haproxy-check")
    (folder / "server-state").write_text("1\n")
    pem = folder / "public.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(pem), "-out",
                    str(folder / "cert.pem"), "-days", "2", "-subj", "/CN=lb.test"], check=True, capture_output=True)
    pem.write_bytes((folder / "cert.pem").read_bytes() + pem.read_bytes())

    def check(config: HaproxyConfig) -> subprocess.CompletedProcess[str]:
        text = render_config(config).text.replace("/var/lib/haproxy/server-state", str(folder / "server-state"))
        path = folder / "haproxy.cfg"
        path.write_text(text)
        return subprocess.run([str(HAPROXY), "-c", "-f", str(path)], capture_output=True, text=True, timeout=30,
                              check=False)

    check.certificate = str(pem)
    return check


load_balancer_settings = st.fixed_dictionaries({
    "mode": st.sampled_from(["http", "tcp"]),
    "algorithm": st.sampled_from(["roundrobin", "leastconn", "source", "uri", "first", "hdr(X-Tenant)"]),
    "tls": st.booleans(), "sticky": st.booleans(), "routes": st.booleans(),
    "maxconn": st.integers(1, 100000), "connect": st.sampled_from(["500ms", "5s", "1m"]),
    "access_log": st.booleans(),
})


@settings(max_examples=25, deadline=None, suppress_health_check=[Hypothesis.function_scoped_fixture])
@given(load_balancer_settings)
def test_every_combination_of_settings_renders_a_config_haproxy_accepts(haproxy_check, drawn):
    http = drawn["mode"] == "http"
    algorithm = drawn["algorithm"] if http or drawn["algorithm"] in ("roundrobin", "leastconn", "source", "first") \
        else "roundrobin"
    fields = {"mode": drawn["mode"], "algorithm": algorithm, "maxconn": drawn["maxconn"],
              "timeouts": {"connect": drawn["connect"]}}
    if drawn["tls"]:
        fields["tls"] = {"cert": "x.pem", "redirect_http": http}
    if drawn["sticky"] and http:
        fields["sticky"] = {"cookie": "SRV"}
    if drawn["routes"] and http:
        fields["routes"] = [{"service": "api", "host": "api.example.com", "path": "/v1"},
                            {"service": "plain", "host": "*.example.com"}]
    config = haproxy_config({"public": lb(**fields)}, SERVICES, ENDPOINTS,
                            certificates={"public": haproxy_check.certificate}, access_log=drawn["access_log"])
    done = haproxy_check(config)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[WARNING]" not in done.stderr, done.stderr


def test_an_unsupported_option_is_rejected_by_haproxy_here_too(haproxy_check):
    done = haproxy_check(haproxy_config({"public": lb(options=["option frobnicate"])}, SERVICES, ENDPOINTS))
    assert done.returncode == 1 and "unknown option 'frobnicate'" in done.stderr
