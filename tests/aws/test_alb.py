"""kind: aws-alb — the pure model (golden files, targets from placement), validation with
file:line, and the lifecycle against a moto server through the real engine."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import replace

import boto3
import pytest
from alb_stacks import (
    ALB_KINDS,
    CERT,
    DATA,
    LISTEN,
    NOTHING,
    ROUTES,
    SHOP,
    SHOP_PATH,
    TWO_HOSTS,
    edited,
    in_elbv2,
    shop,
    slots_of,
)
from tests_aws_helpers import converge, engine_for, pending

from iacorch.errors import StackError
from iacorch.hosts.model import HostInputs, HostModel
from iacorch.plan import Action
from iacorch.resources import Observed, ObservedResource, Resource
from iacorch.stack.load import load_text
from providers.aws.alb_model import AwsAlbLayer, aws_name
from providers.aws.alb_status import lb_status

GOLDEN = {
    "routes": [],
    "tls-redirect": [(LISTEN, f"{LISTEN}    tls: {{cert: {CERT}}}\n")],
    "tls-both-listeners": [(LISTEN, f"{LISTEN}    tls: {{cert: {CERT}, redirect_http: false}}\n")],
    "no-default-sticky-leastconn": [("    service: web\n    routes:",
                                     "    sticky: {}\n    algorithm: leastconn\n    routes:")],
    "no-group-fast-health": [("    group: edge\n    listen", "    listen"),
                             ("interval: 10s, timeout: 3s, healthy: 2, unhealthy: 3",
                              "interval: 1s, timeout: 1s, healthy: 1")],
}


# -- the pure model -------------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(GOLDEN))
def test_desired_resources_match_the_golden_file(case):
    stack = shop(*GOLDEN[case]).stack
    resources, notes = AwsAlbLayer().desired(stack, {}, Observed("shop", "aws"), [])
    got = {"notes": notes, "resources": [{"address": r.address, "kind": r.kind, "attrs": dict(r.attrs),
                                          "deps": list(r.deps)} for r in resources]}
    path = DATA / "golden" / f"{case}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    assert got == json.loads(path.read_text())


def test_names_fit_elbv2_limits_and_stay_unique():
    assert aws_name("shop", "public", "web") == "shop-public-web"
    long_a = aws_name("a-very-long-stack-name-for-tests", "public", "web")
    long_b = aws_name("a-very-long-stack-name-for-tests", "public", "api")
    assert len(long_a) <= 32 and len(long_b) <= 32 and long_a != long_b
    assert not aws_name("internal", "lb").startswith("internal-")


def instances(count: int) -> dict[str, ObservedResource]:
    return {f"group.app[{i}]": ObservedResource(f"group.app[{i}]", "instance", f"i-{i}", {"state": "running"})
            for i in range(count)}


def placed(stack, observed: Observed, hosts: dict[str, list[str]]):
    """The real host model places the replicas; the ALB layer reads them from ``below``."""
    containers, _ = HostModel(HostInputs()).desired(stack, hosts, observed)
    resources, notes = AwsAlbLayer().desired(stack, hosts, observed, containers)
    targets = {r.address: r for r in resources if r.kind == "alb_targets"}
    return containers, targets, notes


def registered_in(targets: dict[str, Resource], service: str) -> set[str]:
    return {t for r in targets.values() if r.attrs["target_group"].endswith(f".{service}")
            for t in r.attrs["targets"]}


def test_targets_are_both_slots_of_every_placed_replica_one_registration_per_instance():
    stack = shop(TWO_HOSTS).stack
    hosts = {"app": ["group.app[0]", "group.app[1]"], "edge": []}
    reachable = {h: {"reachable": True, "docker": "24.0.5", "capacity": {}} for h in hosts["app"]}
    observed = Observed("shop", "aws", resources=instances(2), hosts=reachable)
    containers, targets, notes = placed(stack, observed, hosts)
    # web: 3 replicas on 2 hosts, one of them runs two (two pairs of slots)
    assert registered_in(targets, "web") == slots_of(containers, "web")
    assert len(slots_of(containers, "web")) == 6
    assert registered_in(targets, "api") == slots_of(containers, "api")
    web0 = targets["alb_targets.public.web@group.app[0]"]
    assert web0.attrs["instance"] == "group.app[0]"
    assert web0.deps == ("alb_target_group.public.web", "group.app[0]")
    assert {t.split(":")[0] for t in web0.attrs["targets"]} == {"group.app[0]"}
    assert not notes

    # one host fewer: every replica moves to the other, and so do the targets
    one = {"app": ["group.app[0]"], "edge": []}
    containers1, targets1, _ = placed(stack, replace(observed, resources=instances(1)), one)
    assert registered_in(targets1, "web") == slots_of(containers1, "web")
    assert {r.attrs["instance"] for r in targets1.values()} == {"group.app[0]"}


def test_an_unreachable_host_keeps_what_is_registered_on_it():
    stack = shop(TWO_HOSTS).stack
    hosts = {"app": ["group.app[0]", "group.app[1]"], "edge": []}
    have = ObservedResource("alb_targets.public.web@group.app[1]", "alb_targets", "arn:tg|i-1", {
        "target_group": "alb_target_group.public.web", "instance": "group.app[1]",
        "targets": ["group.app[1]:20002", "group.app[1]:20003"]})
    observed = Observed("shop", "aws", resources={**instances(2), have.address: have}, hosts={
        "group.app[0]": {"reachable": True, "capacity": {}},
        "group.app[1]": {"reachable": False, "error": "timed out"}})
    containers, targets, notes = placed(stack, observed, hosts)
    assert targets[have.address].attrs == have.attrs  # not moved: we cannot see that host
    on_0 = {t for t in registered_in(targets, "web") if t.startswith("group.app[0]")}
    assert on_0 == slots_of(containers, "web")
    assert any("group.app[1] is unreachable" in n for n in notes)


def test_status_reads_target_health_and_marks_the_slot_with_a_running_container_active():
    alb = ObservedResource("alb.public", "alb", "arn:lb", {"dns_name": "shop-public-1.elb.example"})
    health = [{"target": f"group.app[0]:{p}", "instance": "group.app[0]", "port": p, "state": s, "reason": r,
               "description": None}
              for p, s, r in ((20000, "healthy", None), (20001, "unhealthy", "Target.Timeout"))]
    observed = Observed("shop", "aws", resources={"alb.public": alb}, runtime={
        "alb_targets": {"alb_target_group.public.web": health},
        "containers": {"service.web[0]": {"host": "group.app[0]", "host_port": 20000, "state": "running"}}})
    got = lb_status(shop().stack, observed)["public"]
    assert got["url"] == "http://shop-public-1.elb.example"
    assert [(b["server"], b["state"], b["role"], b["status"]) for b in got["backends"]] == [
        ("group.app[0]:20000", "healthy", "active", None),
        ("group.app[0]:20001", "unhealthy", "standby", "Target.Timeout")]


# -- validation -----------------------------------------------------------------------------------
def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize("edit, needle, message", [
    ((f"    service: web\n{ROUTES}", "    service: web\n    mode: tcp\n"), "mode: tcp",
     "kind aws-alb balances http only"),
    ((LISTEN, f"{LISTEN}    algorithm: source\n"), "algorithm: source", "has no algorithm source"),
    ((LISTEN, f"{LISTEN}    tls: {{cert: certs/shop.pem}}\n"), "certs/shop.pem",
     "tls.cert is an ACM certificate ARN"),
    ((LISTEN, f"{LISTEN}    tls: {{cert: {CERT}, port: 80}}\n"), "port: 80}",
     "port 80 is also the http listener's"),
    ((LISTEN, f"{LISTEN}    stats_port: 9100\n"), "stats_port", "is a HAProxy setting"),
    ((LISTEN, f"{LISTEN}    sticky: {{cookie: SRV}}\n"), "cookie: SRV", "names its own stickiness"),
    (("subnets: [public-a, public-b], security_groups: [edge]",
      "subnets: [public-a], security_groups: [edge]"),
     "    group: edge", "at least two availability zones"),
    (("health: {http: /healthz,", "health: {port: 8081, http: /healthz,"), "port: 8081",
     "checks health on the traffic port"),
    (("{path: /api, service: api}", "{path: '/api<v>', service: api}"), "/api<v>", "cannot hold"),
])
def test_invalid_alb_settings_are_refused_with_file_line(edit, needle, message):
    text = edited(edit)
    with pytest.raises(StackError) as info:
        load_text(text, str(SHOP_PATH))
    matching = [e for e in getattr(info.value, "errors", [info.value]) if message in str(e)]
    assert matching, str(info.value)
    assert matching[0].where.startswith(f"{SHOP_PATH}:{line_of(text, needle)}:"), str(info.value)


def test_aws_alb_needs_the_aws_provider():
    with pytest.raises(StackError) as info:
        shop(("provider: {aws: {region: us-east-1}}", "provider: {local: {}}"))
    assert "kind aws-alb needs the aws provider" in str(info.value)


# -- against a moto server, through the real engine -------------------------------------------------

@pytest.mark.usefixtures("aws")
def test_lifecycle_plan_apply_no_changes_destroy():
    sf = shop()
    first = converge(sf)
    assert sorted(c.kind for c in first.actionable if c.kind in ALB_KINDS) == [
        "alb", "alb_listener", "alb_rule", "alb_rule", "alb_target_group", "alb_target_group"]
    assert in_elbv2() == {"lbs": ["shop-public"], "target_groups": ["shop-public-api", "shop-public-web"],
                          "listeners": [80], "rules": ["1", "2"]}
    elb = boto3.client("elbv2")
    web = elb.describe_target_groups(Names=["shop-public-web"])["TargetGroups"][0]
    assert (web["HealthCheckPath"], web["HealthCheckIntervalSeconds"], web["Matcher"]["HttpCode"]) == (
        "/healthz", 10, "200-399")
    found = elb.describe_target_group_attributes(TargetGroupArn=web["TargetGroupArn"])["Attributes"]
    attrs = {a["Key"]: a["Value"] for a in found}
    assert attrs["deregistration_delay.timeout_seconds"] == "15"  # the service's drain_timeout
    tags = elb.describe_tags(ResourceArns=[web["TargetGroupArn"]])["TagDescriptions"][0]["Tags"]
    assert {"Key": "iacorch:address", "Value": "alb_target_group.public.web"} in tags

    assert not pending(sf).has_changes
    converge(sf, destroy=True)
    assert in_elbv2() == NOTHING
    assert not engine_for(sf).observe().resources


@pytest.mark.usefixtures("aws")
def test_a_route_change_is_one_rule_updated_in_place():
    converge(shop())
    changed = shop(("{path: /api, service: api}", "{path: /v2/, service: api}"))
    plan = pending(changed)
    assert [(c.address, c.action, [f.name for f in c.fields]) for c in plan.actionable] == [
        ("alb_rule.public.http[2]", Action.UPDATE, ["conditions"])]
    converge(changed)
    assert not pending(changed).has_changes
    rule = boto3.client("elbv2").describe_rules(RuleArns=[plan.actionable[0].id])["Rules"][0]  # the same rule
    assert rule["Conditions"][0]["PathPatternConfig"]["Values"] == ["/v2/*"]


@pytest.mark.usefixtures("aws")
def test_a_health_check_change_updates_the_target_group_in_place():
    converge(shop())
    changed = shop(("interval: 10s, timeout: 3s", "interval: 20s, timeout: 5s"))
    plan = pending(changed)
    assert [(c.address, c.action, [f.name for f in c.fields]) for c in plan.actionable] == [
        ("alb_target_group.public.web", Action.UPDATE, ["health"])]
    converge(changed)
    assert not pending(changed).has_changes
    elb = boto3.client("elbv2")
    web = elb.describe_target_groups(TargetGroupArns=[plan.actionable[0].id])["TargetGroups"][0]
    assert (web["HealthCheckIntervalSeconds"], web["HealthCheckTimeoutSeconds"]) == (20, 5)


@pytest.mark.usefixtures("aws")
def test_removing_the_load_balancer_deletes_rules_then_listeners_then_target_groups_then_the_alb():
    converge(shop())
    removed = load_text(SHOP.split("load_balancers:")[0], str(SHOP_PATH))
    engine = engine_for(removed)
    order: list[str] = []
    lock = threading.Lock()
    original = engine.provider.apply

    def recording(step, ids):
        with lock:
            order.append(f"{step.op} {step.change.kind}")
        return original(step, ids)

    engine.provider.apply = recording
    observed = engine.observe()
    plan = engine.plan(observed)
    assert {c.kind for c in plan.actionable} == ALB_KINDS - {"alb_targets"}  # no instances, no targets
    assert {c.action for c in plan.actionable} == {Action.DELETE}
    assert engine.apply(plan, observed).outcome.ok
    at = {k: [i for i, o in enumerate(order) if o == f"delete {k}"] for k in ALB_KINDS - {"alb_targets"}}
    assert max(at["alb_rule"]) < min(at["alb_listener"])
    assert max(at["alb_listener"]) < min(at["alb_target_group"])
    assert max(at["alb_target_group"]) < min(at["alb"])
    assert in_elbv2() == NOTHING
    assert not pending(removed).has_changes


@pytest.mark.usefixtures("aws")
def test_tls_listener_with_an_acm_certificate_and_an_http_redirect():
    cert = boto3.client("acm").request_certificate(DomainName="shop.example.com")["CertificateArn"]
    sf = shop((LISTEN, f"{LISTEN}    tls: {{cert: {cert}}}\n"))
    converge(sf)
    assert not pending(sf).has_changes
    elb = boto3.client("elbv2")
    lb = elb.describe_load_balancers(Names=["shop-public"])["LoadBalancers"][0]["LoadBalancerArn"]
    listeners = {x["Port"]: x for x in elb.describe_listeners(LoadBalancerArn=lb)["Listeners"]}
    assert listeners[443]["Certificates"][0]["CertificateArn"] == cert
    assert listeners[80]["DefaultActions"][0]["RedirectConfig"]["Protocol"] == "HTTPS"
    assert in_elbv2()["rules"] == ["1", "2"]  # on https only: http just redirects

    no_redirect = shop((LISTEN, f"{LISTEN}    tls: {{cert: {cert}, redirect_http: false}}\n"))
    assert sorted((c.address, c.action.value) for c in pending(no_redirect).actionable) == [
        ("alb_listener.public.http", "update"), ("alb_rule.public.http[1]", "create"),
        ("alb_rule.public.http[2]", "create")]
    converge(no_redirect)
    assert not pending(no_redirect).has_changes
