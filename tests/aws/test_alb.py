"""kind: aws-alb — pure model (golden files, targets from placement), validation with
file:line, and the lifecycle against a moto server through the real engine."""

from __future__ import annotations

import json
import os
import pathlib
import threading
from dataclasses import replace

import boto3
import pytest

from iacorch.errors import StackError
from iacorch.hosts.model import HostInputs, HostModel
from iacorch.plan import Action, Plan
from iacorch.resources import Observed, ObservedResource
from iacorch.stack.load import StackFile, load_text
from providers.aws.alb_model import AwsAlbLayer, aws_name
from providers.aws.alb_status import lb_status
from tests_aws_helpers import engine_for

DATA = pathlib.Path(__file__).resolve().parent / "alb"
SHOP_PATH = DATA / "shop.yaml"
SHOP = SHOP_PATH.read_text()
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666"
ALB_KINDS = set(AwsAlbLayer.kinds)


def shop(*edits: tuple[str, str]) -> StackFile:
    text = SHOP
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return load_text(text, str(SHOP_PATH))


TLS = ("    listen: 80\n", f"    listen: 80\n    tls: {{cert: {CERT}}}\n")
GOLDEN = {
    "routes": [],
    "tls-redirect": [TLS],
    "tls-both-listeners": [("    listen: 80\n", f"    listen: 80\n    tls: {{cert: {CERT}, redirect_http: false}}\n")],
    "no-default-sticky-leastconn": [("    service: web\n    routes:", "    sticky: {}\n    algorithm: leastconn\n    routes:")],
    "no-group-fast-health": [("    group: edge\n    listen", "    listen"),
                             ("interval: 10s, timeout: 3s, healthy: 2, unhealthy: 3", "interval: 1s, timeout: 1s, healthy: 1")],
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


def instances(group: str, count: int) -> dict[str, ObservedResource]:
    return {f"group.{group}[{i}]": ObservedResource(f"group.{group}[{i}]", "instance", f"i-{i}", {"state": "running"})
            for i in range(count)}


def placed(stack, observed: Observed, hosts: dict[str, list[str]]):
    """The real host model places the replicas; the ALB layer reads them from ``below``."""
    containers, _ = HostModel(HostInputs()).desired(stack, hosts, observed)
    resources, notes = AwsAlbLayer().desired(stack, hosts, observed, containers)
    by_addr = {r.address: r for r in resources}
    return containers, by_addr, notes


def slots_of(containers, service: str) -> set[str]:
    """Both slot ports of the pair each placed replica of ``service`` publishes on."""
    out = set()
    for c in containers:
        if c.kind == "container" and c.address.startswith(f"service.{service}["):
            base = c.attrs["host_port"] - c.attrs["host_port"] % 2
            out |= {f"{c.attrs['host']}:{base}", f"{c.attrs['host']}:{base + 1}"}
    return out


def test_targets_are_both_slots_of_every_placed_replica_on_its_instance():
    stack = shop(("security_groups: [app], size: 0", "security_groups: [app], size: 2")).stack
    hosts = {"app": ["group.app[0]", "group.app[1]"], "edge": []}
    reachable = {h: {"reachable": True, "docker": "24.0.5", "capacity": {}} for h in hosts["app"]}
    observed = Observed("shop", "aws", resources=instances("app", 2), hosts=reachable)
    containers, by_addr, notes = placed(stack, observed, hosts)
    web = by_addr["alb_targets.public.web"]
    # web has 3 replicas on 2 hosts: one host runs two of them, on two pairs of slots
    assert sorted(web.attrs["targets"]) == sorted(slots_of(containers, "web"))
    assert len(web.attrs["targets"]) == 6
    assert web.attrs["instances"] == ["group.app[0]", "group.app[1]"]
    assert set(web.deps) == {"alb_target_group.public.web", "group.app[0]", "group.app[1]"}
    assert sorted(by_addr["alb_targets.public.api"].attrs["targets"]) == sorted(slots_of(containers, "api"))
    assert not notes

    # one host fewer: every replica moves to the other, and so do the targets
    hosts1 = {"app": ["group.app[0]"], "edge": []}
    containers1, by_addr1, _ = placed(stack, replace(observed, resources=instances("app", 1)), hosts1)
    assert {t.split(":")[0] for t in by_addr1["alb_targets.public.web"].attrs["targets"]} == {"group.app[0]"}
    assert sorted(by_addr1["alb_targets.public.web"].attrs["targets"]) == sorted(slots_of(containers1, "web"))


def test_an_unreachable_host_keeps_what_is_registered_on_it():
    stack = shop(("security_groups: [app], size: 0", "security_groups: [app], size: 2")).stack
    hosts = {"app": ["group.app[0]", "group.app[1]"], "edge": []}
    registered = ["group.app[1]:20000", "group.app[1]:20001", "group.app[0]:20000", "group.app[0]:20001"]
    have = ObservedResource("alb_targets.public.web", "alb_targets", "arn:tg", {
        "target_group": "alb_target_group.public.web", "targets": registered, "instances": []})
    observed = Observed("shop", "aws", resources={**instances("app", 2), have.address: have}, hosts={
        "group.app[0]": {"reachable": True, "capacity": {}}, "group.app[1]": {"reachable": False, "error": "timed out"}})
    containers, by_addr, notes = placed(stack, observed, hosts)
    targets = set(by_addr["alb_targets.public.web"].attrs["targets"])
    assert {"group.app[1]:20000", "group.app[1]:20001"} <= targets  # not moved: we cannot see that host
    assert {t for t in targets if t.startswith("group.app[0]")} == slots_of(containers, "web")
    assert any("group.app[1] unreachable" in n for n in notes)


def test_status_reads_target_health_and_marks_the_slot_with_a_running_container_active():
    stack = shop().stack
    alb = ObservedResource("alb.public", "alb", "arn:lb", {"dns_name": "shop-public-1.elb.example"})
    health = [{"target": f"group.app[0]:{p}", "instance": "group.app[0]", "port": p, "state": s, "reason": r,
               "description": None} for p, s, r in ((20000, "healthy", None), (20001, "unhealthy", "Target.Timeout"))]
    observed = Observed("shop", "aws", resources={"alb.public": alb}, runtime={
        "alb_targets": {"alb_targets.public.web": health},
        "containers": {"service.web[0]": {"host": "group.app[0]", "host_port": 20000, "state": "running"}}})
    got = lb_status(stack, observed)["public"]
    assert got["url"] == "http://shop-public-1.elb.example"
    assert [(b["server"], b["state"], b["role"], b["status"]) for b in got["backends"]] == [
        ("group.app[0]:20000", "healthy", "active", None), ("group.app[0]:20001", "unhealthy", "standby", "Target.Timeout")]


# -- validation -----------------------------------------------------------------------------------
def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize("edit, needle, message", [
    (("    service: web\n    routes:\n      - {host: api.example.com, service: api}\n      - {path: /api, service: api}\n",
      "    service: web\n    mode: tcp\n"), "mode: tcp", "kind aws-alb balances http only"),
    (("    listen: 80\n", "    listen: 80\n    algorithm: source\n"), "algorithm: source", "has no algorithm source"),
    (("    listen: 80\n", "    listen: 80\n    tls: {cert: certs/shop.pem}\n"), "certs/shop.pem",
     "tls.cert is an ACM certificate ARN"),
    (("    listen: 80\n", f"    listen: 80\n    tls: {{cert: {CERT}, port: 80}}\n"), "port: 80}",
     "port 80 is also the http listener's"),
    (("    listen: 80\n", "    listen: 80\n    stats_port: 9100\n"), "stats_port", "is a HAProxy setting"),
    (("    listen: 80\n", "    listen: 80\n    sticky: {cookie: SRV}\n"), "cookie: SRV", "names its own stickiness"),
    (("subnets: [public-a, public-b], security_groups: [edge]", "subnets: [public-a], security_groups: [edge]"),
     "    group: edge", "at least two availability zones"),
    (("health: {http: /healthz,", "health: {port: 8081, http: /healthz,"), "port: 8081", "checks health on the traffic port"),
    (("{path: /api, service: api}", "{path: '/api<v>', service: api}"), "/api<v>", "cannot hold"),
])
def test_invalid_alb_settings_are_refused_with_file_line(edit, needle, message):
    text = SHOP.replace(*edit)
    assert text != SHOP
    with pytest.raises(StackError) as info:
        load_text(text, str(SHOP_PATH))
    matching = [e for e in getattr(info.value, "errors", [info.value]) if message in str(e)]
    assert matching, str(info.value)
    assert matching[0].where.startswith(f"{SHOP_PATH}:{line_of(text, needle)}:"), str(info.value)


def test_aws_alb_needs_the_aws_provider():
    text = SHOP.replace("provider: {aws: {region: us-east-1}}", "provider: {local: {}}")
    with pytest.raises(StackError) as info:
        load_text(text, str(SHOP_PATH))
    assert "kind aws-alb needs the aws provider" in str(info.value)


# -- against a moto server, through the real engine -------------------------------------------------
def converge(sf: StackFile, *, destroy: bool = False) -> Plan:
    engine = engine_for(sf)
    observed = engine.observe()
    plan = engine.plan(observed, destroy=destroy)
    result = engine.apply(plan, observed)
    assert result.outcome.ok, result.outcome.failed + result.outcome.skipped
    return plan


def pending(sf: StackFile) -> Plan:
    engine = engine_for(sf)
    return engine.plan(engine.observe())


def ours(client) -> dict[str, list[str]]:
    """What exists in ELBv2, by kind, read straight from the API."""
    lbs = client.describe_load_balancers()["LoadBalancers"]
    listeners = [x for lb in lbs for x in client.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]]
    return {"lbs": [x["LoadBalancerName"] for x in lbs],
            "target_groups": [x["TargetGroupName"] for x in client.describe_target_groups()["TargetGroups"]],
            "listeners": [x["Port"] for x in listeners],
            "rules": sorted(r["Priority"] for x in listeners
                            for r in client.describe_rules(ListenerArn=x["ListenerArn"])["Rules"] if not r["IsDefault"])}


@pytest.mark.usefixtures("aws")
def test_lifecycle_plan_apply_no_changes_destroy():
    sf = shop()
    first = converge(sf)
    kinds = sorted(c.kind for c in first.actionable if c.kind in ALB_KINDS)
    assert kinds == ["alb", "alb_listener", "alb_rule", "alb_rule", "alb_target_group", "alb_target_group",
                     "alb_targets", "alb_targets"]
    elb = boto3.client("elbv2")
    assert ours(elb) == {"lbs": ["shop-public"], "target_groups": ["shop-public-api", "shop-public-web"],
                         "listeners": [80], "rules": ["1", "2"]}
    web = elb.describe_target_groups(Names=["shop-public-web"])["TargetGroups"][0]
    assert (web["HealthCheckPath"], web["HealthCheckIntervalSeconds"], web["Matcher"]["HttpCode"]) == ("/healthz", 10, "200-399")
    attrs = {a["Key"]: a["Value"] for a in elb.describe_target_group_attributes(
        TargetGroupArn=web["TargetGroupArn"])["Attributes"]}
    assert attrs["deregistration_delay.timeout_seconds"] == "15"  # the service's drain_timeout
    tagged = elb.describe_tags(ResourceArns=[web["TargetGroupArn"]])["TagDescriptions"][0]["Tags"]
    assert {"Key": "iacorch:address", "Value": "alb_target_group.public.web"} in tagged

    assert not pending(sf).has_changes
    converge(sf, destroy=True)
    assert ours(elb) == {"lbs": [], "target_groups": [], "listeners": [], "rules": []}
    assert not engine_for(sf).observe().resources


@pytest.mark.usefixtures("aws")
def test_a_route_change_is_one_rule_updated_in_place():
    converge(shop())
    changed = shop(("{path: /api, service: api}", "{path: /v2/, service: api}"))
    plan = pending(changed)
    assert [(c.address, c.action, [f.name for f in c.fields]) for c in plan.actionable] == [
        ("alb_rule.public.http[2]", Action.UPDATE, ["conditions"])]
    before = plan.actionable[0].id
    converge(changed)
    assert not pending(changed).has_changes
    rule = boto3.client("elbv2").describe_rules(RuleArns=[before])["Rules"][0]  # the same rule, changed
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
    assert {c.kind for c in plan.actionable} == ALB_KINDS and {c.action for c in plan.actionable} == {Action.DELETE}
    assert engine.apply(plan, observed).outcome.ok
    last = {k: max(i for i, o in enumerate(order) if o == f"delete {k}") for k in ALB_KINDS}
    first = {k: min(i for i, o in enumerate(order) if o == f"delete {k}") for k in ALB_KINDS}
    assert last["alb_rule"] < first["alb_listener"]
    assert last["alb_listener"] < first["alb_target_group"] and last["alb_targets"] < first["alb_target_group"]
    assert last["alb_target_group"] < first["alb"]
    assert ours(boto3.client("elbv2")) == {"lbs": [], "target_groups": [], "listeners": [], "rules": []}
    assert not pending(removed).has_changes


@pytest.mark.usefixtures("aws")
def test_tls_listener_with_an_acm_certificate_and_an_http_redirect():
    cert = boto3.client("acm").request_certificate(DomainName="shop.example.com")["CertificateArn"]
    sf = shop(("    listen: 80\n", f"    listen: 80\n    tls: {{cert: {cert}}}\n"))
    converge(sf)
    assert not pending(sf).has_changes
    elb = boto3.client("elbv2")
    lb = elb.describe_load_balancers(Names=["shop-public"])["LoadBalancers"][0]
    listeners = {x["Port"]: x for x in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]}
    assert listeners[443]["Certificates"][0]["CertificateArn"] == cert
    assert listeners[80]["DefaultActions"][0]["RedirectConfig"]["Protocol"] == "HTTPS"
    assert ours(elb)["rules"] == ["1", "2"]  # on https only: http just redirects

    no_redirect = shop(("    listen: 80\n", f"    listen: 80\n    tls: {{cert: {cert}, redirect_http: false}}\n"))
    plan = pending(no_redirect)
    assert sorted((c.address, c.action.value) for c in plan.actionable) == [
        ("alb_listener.public.http", "update"), ("alb_rule.public.http[1]", "create"), ("alb_rule.public.http[2]", "create")]
    converge(no_redirect)
    assert not pending(no_redirect).has_changes


# -- targets follow placement, registered in moto ---------------------------------------------------
@pytest.fixture
def targets_by_port(monkeypatch):
    """moto 5.2 keys a target group's targets by instance id alone, so an instance registered on two
    ports (both slots of a replica) keeps only the last one. AWS keys them by (id, port); make moto do so."""
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
        k = key(self, target)
        if k in self.targets:
            instance = ec2_backend.get_instance_by_id(k[0])
            if instance is not None and instance.state == "stopped":
                return m.FakeHealthStatus(k[0], k[1], self.health_check_port, "unused", "Target.InvalidState",
                                          "Target is in the stopped state")
            return m.FakeHealthStatus(k[0], k[1], self.health_check_port, "healthy")
        if k in self.terminated_targets:
            return m.FakeHealthStatus(k[0], k[1], self.health_check_port, "draining",
                                      "Target.DeregistrationInProgress", "Target deregistration is in progress")
        return m.FakeHealthStatus(k[0], k[1], self.health_check_port, "unused", "Target.NotRegistered",
                                  "Target is not registered to the target group")

    for name, fn in [("register", register), ("deregister", deregister), ("health_for", health_for),
                     ("deregister_terminated_instances", deregister_terminated_instances)]:
        monkeypatch.setattr(m.FakeTargetGroup, name, fn)


def observe_as_if_hosts_answered(engine) -> Observed:
    """moto's instances are not machines: the engine finds them unreachable (nothing is dialed).
    Say they answered with no containers yet, so the real host model places replicas on them."""
    observed = engine.observe()
    hosts = {a: {"reachable": True, "docker": "24.0.5", "capacity": {}} for a, r in observed.resources.items()
             if r.kind == "instance"}
    return replace(observed, hosts=hosts)


def without_host_steps(engine, plan: Plan) -> Plan:
    """The plan minus what runs on the hosts (Docker, images, containers)."""
    cloud = set(engine.provider.model.kinds) | ALB_KINDS
    return replace(plan, changes=tuple(c for c in plan.changes if c.kind in cloud))


def converge_cloud(sf: StackFile):
    engine = engine_for(sf)
    observed = observe_as_if_hosts_answered(engine)
    full = engine.plan(observed)
    plan = without_host_steps(engine, full)
    assert engine.apply(plan, observed).outcome.ok
    return full, plan


def registered() -> dict[str, set[str]]:
    """target group name -> {instance address:port}, read straight from ELBv2 and EC2."""
    ec2, elb = boto3.client("ec2"), boto3.client("elbv2")
    names = {i["InstanceId"]: {t["Key"]: t["Value"] for t in i["Tags"]}["iacorch:address"]
             for r in ec2.describe_instances()["Reservations"] for i in r["Instances"] if i["State"]["Name"] != "terminated"}
    return {tg["TargetGroupName"]: {f"{names[t['Target']['Id']]}:{t['Target']['Port']}" for t in elb.describe_target_health(
        TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]} for tg in elb.describe_target_groups()["TargetGroups"]}


@pytest.mark.usefixtures("aws", "targets_by_port")
def test_targets_follow_placement_in_the_cloud(capsys):
    two_hosts = shop(("security_groups: [app], size: 0", "security_groups: [app], size: 2"))
    full, _ = converge_cloud(two_hosts)
    placed_web = slots_of([c for c in full.changes if c.kind == "container"], "web") if False else None
    containers = [c for c in full.changes if c.kind == "container"]
    want_web = {f"{c.after['host']}:{p}" for c in containers if c.address.startswith("service.web[")
                for p in (c.after["host_port"] - c.after["host_port"] % 2, c.after["host_port"] - c.after["host_port"] % 2 + 1)}
    assert placed_web is None and len(want_web) == 6
    assert registered()["shop-public-web"] == want_web
    again = without_host_steps(engine_for(two_hosts), engine_for(two_hosts).plan(observe_as_if_hosts_answered(engine_for(two_hosts))))
    assert not again.has_changes

    # one replica of web: the targets of the others are deregistered, and the plan says which
    one = shop(("security_groups: [app], size: 0", "security_groups: [app], size: 2"), ("replicas: 3", "replicas: 1"))
    engine = engine_for(one)
    plan = without_host_steps(engine, engine.plan(observe_as_if_hosts_answered(engine)))
    [change] = [c for c in plan.actionable if c.address == "alb_targets.public.web"]
    targets = next(f for f in change.fields if f.name == "targets")
    assert len(targets.removed) == 4 and not targets.added
    converge_cloud(one)
    assert registered()["shop-public-web"] == want_web - set(targets.removed)

    # status: every target with its health (moto calls a registered running instance healthy)
    ec2 = boto3.client("ec2")
    stopped = [i["InstanceId"] for r in ec2.describe_instances(Filters=[{"Name": "tag:iacorch:address", "Values": ["group.app[1]"]}])
               ["Reservations"] for i in r["Instances"]]
    ec2.stop_instances(InstanceIds=stopped)
    from iacorch.cli import main

    assert main(["status", str(SHOP_PATH.with_name("two-hosts.yaml")) if False else _write(one), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)["load_balancers"]["public"]
    assert status["url"] == "http://shop-public-1.us-east-1.elb.amazonaws.com"
    states = {b["server"]: b["state"] for b in status["backends"] if b["backend"] == "api"}
    assert states and all(s == ("unused" if h.startswith("group.app[1]") else "healthy")
                          for h, s in states.items()), states
