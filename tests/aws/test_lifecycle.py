"""plan / apply / destroy of AWS stacks against a moto server, through the real engine and executor."""

from __future__ import annotations

import boto3
import pytest
from tests_aws_helpers import REFERENCE, converge, engine_for, load, pending  # noqa: F401

from iacorch.plan import Action

pytestmark = pytest.mark.usefixtures("aws")

EDITS = {
    "template change": [("app_type: t3.small", "app_type: t3.medium")],
    "scale up": [("desired: 3", "desired: 5")],
    "scale down": [("desired: 3", "desired: 2")],
    "rule change": [("ports: [8080], from_group: edge", "ports: [8080, 9000-9010], from_group: edge"),
                    ("ports: [80, 443], from: 0.0.0.0/0", "ports: [443], from: 0.0.0.0/0")],
    "subnet replaced": [("10.20.2.0/24", "10.20.3.0/24")],
    "security group replaced": [("app servers, reachable on 8080 only from the edge", "app servers v2")],
    "group removed": [("  edge: {template: node, subnets: [public-a], security_groups: [edge], size: 1}\n", "")],
}


def edited(pairs):
    text = REFERENCE
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new)
    return load(text)


def test_apply_converges_and_a_second_plan_is_empty(reference):
    first = converge(reference)
    assert first.summary()["add"] == 15
    assert not pending(reference).has_changes


@pytest.mark.parametrize("name", sorted(EDITS))
def test_each_kind_of_change_applies_and_converges(reference, name):
    converge(reference)
    changed = edited(EDITS[name])
    plan = converge(changed)
    assert plan.has_changes
    assert not pending(changed).has_changes, name


def test_template_change_keeps_the_group_at_size_throughout(reference):
    converge(reference)
    changed = edited(EDITS["template change"])
    engine = engine_for(changed)
    ec2 = boto3.client("ec2")
    counts: list[int] = []
    original = engine.provider.apply

    def counting(step, ids):
        result = original(step, ids)
        live = ec2.describe_instances(Filters=[
            {"Name": "tag:iacorch:group", "Values": ["app"]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]}])
        counts.append(sum(len(r["Instances"]) for r in live["Reservations"]))
        return result

    engine.provider.apply = counting
    observed = engine.observe()
    plan = engine.plan(observed)
    replaced = [c for c in plan.actionable if c.action is Action.REPLACE and c.address.startswith("group.app")]
    assert [c.batch for c in sorted(replaced, key=lambda c: c.address)] == [1, 2, 3]
    assert any("rolling replace of 3" in n for n in plan.notes)
    assert engine.apply(plan, observed, parallelism=10).outcome.ok
    assert min(counts) >= 3  # create-before-destroy, one at a time: never below the group's size
    types = {i["InstanceType"] for r in ec2.describe_instances(Filters=[
        {"Name": "tag:iacorch:group", "Values": ["app"]},
        {"Name": "instance-state-name", "Values": ["running"]}])["Reservations"] for i in r["Instances"]}
    assert types == {"t3.medium"}


def test_destroy_removes_what_the_stack_owns_and_nothing_else(reference):
    ec2 = boto3.client("ec2")
    outsider_vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    outsider_sg = ec2.create_security_group(GroupName="outsider", Description="not ours",
                                            VpcId=outsider_vpc)["GroupId"]
    converge(reference)
    ours_vpc = engine_for(reference).observe().resources["vpc.main"].id
    outsider_instance = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    plan = converge(reference, destroy=True)
    assert plan.summary()["destroy"] == 15
    assert engine_for(reference).observe().resources == {}
    vpcs = {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]}
    assert outsider_vpc in vpcs and ours_vpc not in vpcs
    assert outsider_sg in {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    state = ec2.describe_instances(InstanceIds=[outsider_instance])["Reservations"][0]["Instances"][0]["State"]
    assert state["Name"] == "running"


def test_resources_without_our_tags_are_never_planned(reference):
    ec2 = boto3.client("ec2")
    ec2.create_vpc(CidrBlock="10.20.0.0/16")  # same CIDR, no tags: not ours
    plan = pending(reference)
    assert all(c.action is Action.CREATE for c in plan.actionable)


def test_hand_made_drift_shows_in_plan_and_apply_repairs_it(reference):
    converge(reference)
    observed = engine_for(reference).observe()
    ec2 = boto3.client("ec2")
    ec2.terminate_instances(InstanceIds=[observed.resources["group.app[1]"].id])
    ec2.revoke_security_group_ingress(GroupId=observed.resources["security_group.app"].id, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    plan = pending(reference)
    by_addr = {c.address: c for c in plan.actionable}
    assert by_addr["group.app[1]"].action is Action.CREATE
    assert by_addr["security_group.app.ingress"].action is Action.UPDATE
    assert by_addr["security_group.app.ingress"].fields[0].added == (
        {"ports": "22", "protocol": "tcp", "source": "0.0.0.0/0"},)
    converge(reference)
    assert not pending(reference).has_changes


def test_observation_is_batched_not_per_resource(reference):
    converge(reference)
    engine = engine_for(reference)
    engine.observe()
    calls = engine.provider.calls
    # one Describe per type, one page each; two of them ELBv2 (load balancers, target groups: aws-alb)
    assert sum(calls.values()) == 11, dict(calls)
