"""kind: aws-alb targets in moto through the real engine: they follow placement, a replaced
instance is registered before the old one drains, observation stays batched, and load
balancers the stack does not own are never touched."""

from __future__ import annotations

import json
from dataclasses import replace

import boto3
import pytest
from alb_stacks import ALB_KINDS, NOTHING, TWO_HOSTS, edited, in_elbv2, shop, slots_of
from tests_aws_helpers import converge, engine_for, pending

from iacorch.plan import Action, Plan
from iacorch.resources import Observed, Resource
from iacorch.stack.load import StackFile


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
