"""kind: aws-alb — the pure model (golden files, targets from placement), validation with
file:line, and the lifecycle against a moto server through the real engine."""

from __future__ import annotations

import json
import os
import pathlib
import threading
from dataclasses import replace

import boto3
import pytest
from tests_aws_helpers import converge, engine_for, pending

from iacorch.errors import StackError
from iacorch.hosts.model import HostInputs, HostModel
from iacorch.plan import Action, Plan
from iacorch.resources import Observed, ObservedResource, Resource
from iacorch.stack.load import StackFile, load_text
from providers.aws.alb_model import AwsAlbLayer, aws_name
from providers.aws.alb_status import lb_status

DATA = pathlib.Path(__file__).resolve().parent / "alb"
SHOP_PATH = DATA / "shop.yaml"
SHOP = SHOP_PATH.read_text()
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666"
ALB_KINDS = set(AwsAlbLayer.kinds)
LISTEN = "    listen: 80\n"
ROUTES = "    routes:\n      - {host: api.example.com, service: api}\n      - {path: /api, service: api}\n"
TWO_HOSTS = ("security_groups: [app], size: 0", "security_groups: [app], size: 2")


def edited(*edits: tuple[str, str]) -> str:
    text = SHOP
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return text


def shop(*edits: tuple[str, str]) -> StackFile:
    return load_text(edited(*edits), str(SHOP_PATH))


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


def slots_of(containers, service: str) -> set[str]:
    """Both slot ports of the pair each placed replica of ``service`` publishes on, on its host."""
    out = set()
    for c in containers:
        if c.kind == "container" and c.address.startswith(f"service.{service}["):
            base = c.attrs["host_port"] - c.attrs["host_port"] % 2
            out |= {f"{c.attrs['host']}:{base}", f"{c.attrs['host']}:{base + 1}"}
    return out


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
def in_elbv2() -> dict[str, list]:
    """What exists in ELBv2, read straight from the API."""
    elb = boto3.client("elbv2")
    lbs = elb.describe_load_balancers()["LoadBalancers"]
    listeners = [x for lb in lbs
                 for x in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]]
    rules = [r for x in listeners for r in elb.describe_rules(ListenerArn=x["ListenerArn"])["Rules"]]
    return {"lbs": [x["LoadBalancerName"] for x in lbs],
            "target_groups": [x["TargetGroupName"] for x in elb.describe_target_groups()["TargetGroups"]],
            "listeners": [x["Port"] for x in listeners],
            "rules": sorted(r["Priority"] for r in rules if not r["IsDefault"])}


NOTHING = {"lbs": [], "target_groups": [], "listeners": [], "rules": []}


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


# -- targets follow placement, registered in moto ---------------------------------------------------
@pytest.fixture
def targets_by_port(monkeypatch):
    """moto 5.2 keys a target group's targets by instance id alone, so an instance registered on two
    ports (both slots of a replica) keeps only the last. AWS keys them by (id, port): make moto do so."""
    from moto.elbv2 import models as m

    def key(tg, t):
        return t["Id"], str(t.get("Port") or tg.port)

    def register(self, targets):
        for t in targets:
            instance = self.ec2_backend.get_instance_by_id(t["Id"])
            if instance is not None and instance.state != "running":
                raise m.TargetNotRunning(instance_id=t["Id"])
            self.targets[key(self, t)] = {"Id": t["Id"], "Port": key(self, t)[1]}
            self.deregistered_targets.pop(key(self, t), None)

    def deregister(self, targets):
        for t in targets:
            if key(self, t) not in self.targets:
                raise m.InvalidTargetError()
            self.deregistered_targets[key(self, t)] = self.targets.pop(key(self, t))

    def deregister_terminated_instances(self, instance_ids):
        for k in [k for k in self.targets if k[0] in instance_ids]:
            self.terminated_targets[k] = self.targets.pop(k)

    def health_for(self, target, ec2_backend):
        (ident, port), check = key(self, target), self.health_check_port
        if (ident, port) in self.targets:
            instance = ec2_backend.get_instance_by_id(ident)
            if instance is not None and instance.state == "stopped":
                return m.FakeHealthStatus(ident, port, check, "unused", "Target.InvalidState", "stopped")
            return m.FakeHealthStatus(ident, port, check, "healthy")
        if (ident, port) in self.terminated_targets:
            return m.FakeHealthStatus(ident, port, check, "draining", "Target.DeregistrationInProgress")
        return m.FakeHealthStatus(ident, port, check, "unused", "Target.NotRegistered")

    for fn in (register, deregister, health_for, deregister_terminated_instances):
        monkeypatch.setattr(m.FakeTargetGroup, fn.__name__, fn)


def observe_as_if_hosts_answered(engine) -> Observed:
    """moto's instances are not machines: the engine finds them unreachable (nothing is dialed).
    Say they answered, with no containers yet, so the real host model places replicas on them."""
    observed = engine.observe()
    hosts = {a: {"reachable": True, "docker": "24.0.5", "capacity": {}}
             for a, r in observed.resources.items() if r.kind == "instance"}
    return replace(observed, hosts=hosts)


def cloud_plan(sf: StackFile) -> tuple[object, Observed, Plan, Plan]:
    """The engine's plan, and the same without what runs on the hosts (Docker, images, containers)."""
    engine = engine_for(sf)
    observed = observe_as_if_hosts_answered(engine)
    full = engine.plan(observed)
    cloud = set(engine.provider.model.kinds) | ALB_KINDS
    return engine, observed, full, replace(full, changes=tuple(c for c in full.changes if c.kind in cloud))


def converge_cloud(sf: StackFile) -> Plan:
    engine, observed, full, plan = cloud_plan(sf)
    assert engine.apply(plan, observed).outcome.ok
    return full


def registered() -> dict[str, set[str]]:
    """target group name -> {instance address:port}, read straight from ELBv2 and EC2."""
    ec2, elb = boto3.client("ec2"), boto3.client("elbv2")
    live = {i["InstanceId"]: {t["Key"]: t["Value"] for t in i["Tags"]}["iacorch:address"]
            for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
            if i["State"]["Name"] != "terminated"}
    out = {}
    for tg in elb.describe_target_groups()["TargetGroups"]:
        found = elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
        out[tg["TargetGroupName"]] = {f"{live[t['Target']['Id']]}:{t['Target']['Port']}" for t in found}
    return out


def placed_by(plan: Plan, service: str) -> set[str]:
    containers = [Resource(c.address, c.kind, c.after or {}) for c in plan.changes if c.kind == "container"]
    return slots_of(containers, service)


@pytest.mark.usefixtures("aws", "targets_by_port")
def test_targets_follow_placement_in_the_cloud(tmp_path, capsys):
    full = converge_cloud(shop(TWO_HOSTS))
    want_web = placed_by(full, "web")
    assert len(want_web) == 6  # three replicas, both slots each
    assert registered() == {"shop-public-web": want_web, "shop-public-api": placed_by(full, "api")}
    assert not cloud_plan(shop(TWO_HOSTS))[3].has_changes

    # one replica of web: the others' targets are deregistered, and the plan says which
    one = shop(TWO_HOSTS, ("replicas: 3", "replicas: 1"))
    _, _, full, plan = cloud_plan(one)
    removed = {t for c in plan.actionable for f in c.fields for t in f.removed if f.name == "targets"}
    removed |= {t for c in plan.actionable if c.action is Action.DELETE for t in c.before["targets"]}
    assert {c.kind for c in plan.actionable} == {"alb_targets"}
    assert removed == want_web - placed_by(full, "web") and len(removed) == 4
    converge_cloud(one)
    assert registered()["shop-public-web"] == placed_by(full, "web")

    # status --json: every target with its health; moto calls a stopped instance's targets unused
    ec2 = boto3.client("ec2")
    second = ec2.describe_instances(Filters=[{"Name": "tag:iacorch:address", "Values": ["group.app[1]"]}])
    ec2.stop_instances(InstanceIds=[i["InstanceId"] for r in second["Reservations"] for i in r["Instances"]])
    stack_file = tmp_path / "shop.yaml"
    stack_file.write_text(edited(TWO_HOSTS, ("replicas: 3", "replicas: 1")))
    from iacorch.cli import main

    assert main(["status", str(stack_file), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)["load_balancers"]["public"]
    assert status["url"] == "http://shop-public-1.us-east-1.elb.amazonaws.com"
    states = {b["server"]: b["state"] for b in status["backends"]}
    assert set(states) == registered()["shop-public-web"] | registered()["shop-public-api"]
    assert {s for t, s in states.items() if t.startswith("group.app[1]:")} == {"unused"}
    assert {s for t, s in states.items() if t.startswith("group.app[0]:")} == {"healthy"}


@pytest.mark.usefixtures("aws", "targets_by_port")
def test_a_replaced_instance_is_registered_before_the_old_one_drains_and_goes():
    converge_cloud(shop(TWO_HOSTS))
    before = registered()
    changed = shop(TWO_HOSTS, ("t3.small", "t3.medium"))
    _, _, _, plan = cloud_plan(changed)
    by_addr = {c.address: c for c in plan.actionable}
    # still a rolling, create-before-destroy replacement: a registration waits for its own instance only
    rolling = [(by_addr[a].create_before_destroy, by_addr[a].batch) for a in ("group.app[0]", "group.app[1]")]
    assert rolling == [(True, 1), (True, 2)]
    moved = [c for c in plan.actionable if c.kind == "alb_targets"]
    assert moved and all(c.action is Action.UPDATE and "will point at the new one" in c.reason for c in moved)
    old_ids = {c.id.split("|")[1] for c in moved}
    converge_cloud(changed)
    assert registered() == before  # the same addresses and ports, on the new instances
    elb = boto3.client("elbv2")
    arns = [tg["TargetGroupArn"] for tg in elb.describe_target_groups()["TargetGroups"]]
    ids = {t["Target"]["Id"] for arn in arns
           for t in elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]}
    assert not ids & old_ids
    assert not cloud_plan(changed)[3].has_changes


ELBV2_OBSERVATION = {"DescribeLoadBalancers": 1, "DescribeTargetGroups": 1, "DescribeTags": 2,
                     "DescribeListeners": 1, "DescribeRules": 1, "DescribeTargetGroupAttributes": 2,
                     "DescribeTargetHealth": 2}


@pytest.mark.usefixtures("aws", "targets_by_port")
def test_observation_requests_do_not_grow_with_targets():
    counts = {}
    for replicas in (1, 12):
        sf = shop(("security_groups: [app], size: 0", "security_groups: [app], size: 3"),
                  ("replicas: 3", f"replicas: {replicas}"))
        converge_cloud(sf)
        assert sum(len(v) for v in registered().values()) == 2 * (replicas + 1)
        engine = engine_for(sf)
        engine.observe()
        counts[replicas] = dict(engine.provider.calls)
    assert counts[1] == counts[12]
    assert {k: v for k, v in counts[12].items() if k in ELBV2_OBSERVATION} == ELBV2_OBSERVATION


@pytest.mark.usefixtures("aws")
def test_load_balancers_the_stack_does_not_own_are_never_touched():
    ec2, elb = boto3.client("ec2"), boto3.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.99.1.0/24")["Subnet"]["SubnetId"]
    theirs = [{"Key": "iacorch:stack", "Value": "other"}, {"Key": "iacorch:address", "Value": "alb.public"}]
    elb.create_load_balancer(Name="other-public", Subnets=[subnet], Tags=theirs)
    elb.create_target_group(Name="untagged", Protocol="HTTP", Port=80, VpcId=vpc)
    sf = shop()
    converge(sf)
    assert not pending(sf).has_changes
    converge(sf, destroy=True)
    assert in_elbv2() == {**NOTHING, "lbs": ["other-public"], "target_groups": ["untagged"]}


@pytest.mark.usefixtures("aws")
def test_moto_still_keeps_one_target_per_instance():
    """Why ``targets_by_port`` exists: once this fails, moto keys targets by (id, port) like AWS."""
    ec2, elb = boto3.client("ec2"), boto3.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.99.1.0/24")["Subnet"]["SubnetId"]
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                 SubnetId=subnet)["Instances"][0]["InstanceId"]
    tg = elb.create_target_group(Name="gap", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]
    elb.register_targets(TargetGroupArn=tg["TargetGroupArn"],
                         Targets=[{"Id": instance, "Port": 20000}, {"Id": instance, "Port": 20001}])
    found = elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
    assert len(found) == 1
