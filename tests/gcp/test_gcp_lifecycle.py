"""plan / apply / destroy of stacks/gcp-web.yaml against the local GCE API, through the real engine and executor."""

from __future__ import annotations

import dataclasses
import os

import pytest
from gcp_engine import PROJECT, REGION, Cloud, converge, edited, engine_for, load, pending
from google.cloud import compute_v1

from iacorch.plan import Action
from providers.gcp.ownership import description

pytestmark = pytest.mark.usefixtures("gcp")

EDITS = {
    "template change": [("app_type: e2-small", "app_type: e2-medium")],
    "scale up": [("desired: 3", "desired: 5")],
    "scale down": [("desired: 3", "desired: 2")],
    "rule change": [("ports: [8080], from_group: edge", "ports: [8080, 9000-9010], from_group: edge"),
                    ("ports: [80, 443], from: 0.0.0.0/0", "ports: [443], from: 0.0.0.0/0")],
    "rule description change": [("app servers, reachable on 8080 only from the edge", "app servers v2")],
    "subnet CIDR change": [("10.20.2.0/24", "10.20.3.0/24")],
    "group's security groups change": [("security_groups: [app], size", "security_groups: [app, edge], size")],
    "subnet made private": [("public-b: {cidr: 10.20.2.0/24, public: true}", "public-b: {cidr: 10.20.2.0/24}")],
    "group removed": [("  edge: {template: node, subnets: [public-a], security_groups: [edge], size: 1}\n", "")],
}


@pytest.fixture
def cloud(gcp) -> Cloud:
    return Cloud(gcp)


def test_plan_apply_plan_destroy(cloud):
    sf = load()
    first = converge(sf)
    assert first.summary() == {"add": 12, "change": 0, "replace": 0, "destroy": 0}
    assert not pending(sf).has_changes
    instances = cloud.instances_of("gcp-web")
    assert sorted((i.name.rsplit("-", 1)[0], i.zone.rsplit("/", 1)[1], i.status) for i in instances) == [
        ("gcp-web-app-0", "us-central1-a", "RUNNING"), ("gcp-web-app-1", "us-central1-b", "RUNNING"),
        ("gcp-web-app-2", "us-central1-a", "RUNNING"), ("gcp-web-edge-0", "us-central1-a", "RUNNING")]
    observed = engine_for(sf).observe().resources
    for address in ("group.edge[0]", "group.app[1]"):
        attrs = observed[address].attrs
        assert attrs["private_ip"].startswith("10.20.") and attrs["public_ip"]
    last = converge(sf, destroy=True)
    assert last.summary()["destroy"] == 12
    assert engine_for(sf).observe().resources == {}
    assert cloud.instances_of("gcp-web") == []


def test_instances_carry_the_template_ssh_key_labels_and_tags(cloud):
    sf = load()
    converge(sf)
    from iacorch.keys import public_keys

    key = public_keys(sf)["node"]
    edge = cloud.instances_of("gcp-web", "edge")[0]
    assert {m.key: m.value for m in edge.metadata.items}["ssh-keys"] == f"admin:{key}"
    assert list(edge.tags.items) == ["edge"]
    assert edge.description == description("gcp-web", "group.edge[0]")
    assert dict(edge.labels)["iacorch-template"] == "node"
    assert edge.machine_type.endswith("/zones/us-central1-a/machineTypes/e2-small")


@pytest.mark.parametrize("name", sorted(EDITS))
def test_each_kind_of_change_applies_and_converges(name):
    converge(load())
    changed = edited(*EDITS[name])
    plan = converge(changed)
    assert plan.has_changes
    assert not pending(changed).has_changes, name


def test_instances_in_a_private_subnet_have_no_external_ip():
    changed = edited(*EDITS["subnet made private"])
    converge(changed)
    observed = engine_for(changed).observe().resources
    assert observed["group.app[1]"].attrs["public_ip"] is None
    assert observed["group.app[1]"].attrs["private_ip"].startswith("10.20.2.")
    assert observed["group.app[0]"].attrs["public_ip"]


def test_the_stack_lock_is_a_file_under_iacorch_home_or_where_the_stack_says(iacorch_home, tmp_path):
    assert engine_for(load()).provider.lock_backend().where == os.path.join(
        iacorch_home, "stacks", "gcp-web", "lock")
    project = "    project: \"{{ project }}\"\n"
    custom = edited((project, f"{project}    lock: {tmp_path}/gcp-web.lock\n"))
    assert engine_for(custom).provider.lock_backend().where == str(tmp_path / "gcp-web.lock")


def test_template_change_rolls_the_group_without_dropping_below_its_size(cloud):
    converge(load())
    changed = edited(*EDITS["template change"])
    engine = engine_for(changed)
    running: list[int] = []
    original = engine.provider.apply

    def counting(step, ids):
        result = original(step, ids)
        running.append(sum(i.status == "RUNNING" for i in cloud.instances_of("gcp-web", "app")))
        return result

    engine.provider.apply = counting
    observed = engine.observe()
    plan = engine.plan(observed)
    assert engine.apply(plan, observed).outcome.ok
    assert min(running) >= 3  # each new instance up before an old one goes
    app = cloud.instances_of("gcp-web", "app")
    assert {i.machine_type.rsplit("/", 1)[1] for i in app} == {"e2-medium"} and len(app) == 3
    assert len(cloud.names(cloud.templates)) == 1  # the old template went once nothing used it


def test_a_rule_change_touches_only_that_rule(cloud):
    converge(load())
    before = cloud.names(cloud.firewalls)
    plan = converge(edited(EDITS["rule change"][0]))
    assert sorted(c.action.value for c in plan.actionable) == ["create", "delete"]
    after = cloud.names(cloud.firewalls)
    assert len(before - after) == 1 and len(after - before) == 1
    rule = cloud.firewalls.get(project=PROJECT, firewall=(after - before).pop())
    assert [list(a.ports) for a in rule.allowed] == [["8080", "9000-9010"]]
    assert (list(rule.source_tags), list(rule.target_tags)) == (["edge"], ["app"])


def test_destroy_leaves_resources_outside_the_stack_alone(cloud):
    cloud.succeed(cloud.networks.insert_unary(project=PROJECT, network_resource=compute_v1.Network(
        name="outsider", auto_create_subnetworks=False, description="iacorch stack=other address=network.main")))
    cloud.succeed(cloud.firewalls.insert_unary(project=PROJECT, firewall_resource=compute_v1.Firewall(
        name="outsider-ssh", network="global/networks/outsider", source_ranges=["0.0.0.0/0"],
        allowed=[compute_v1.Allowed(I_p_protocol="tcp", ports=["22"])])))
    sf = load()
    converge(sf)
    converge(sf, destroy=True)
    assert cloud.names(cloud.networks) == {"outsider"}
    assert cloud.names(cloud.firewalls) == {"outsider-ssh"}
    assert cloud.names(cloud.subnetworks, region=REGION) == set()


def test_resources_of_another_stack_or_unmarked_are_never_planned(cloud):
    cloud.succeed(cloud.networks.insert_unary(project=PROJECT, network_resource=compute_v1.Network(
        name="gcp-web-2-net", auto_create_subnetworks=False, description="iacorch stack=gcp-web-2 address=network.main")))
    plan = pending(load())
    assert all(c.action is Action.CREATE for c in plan.actionable)


def test_hand_made_drift_shows_in_the_plan_and_apply_repairs_it(cloud):
    sf = load()
    converge(sf)
    observed = engine_for(sf).observe().resources
    zone, name = observed["group.app[1]"].id.split("/")[3::2]
    cloud.succeed(cloud.instances.delete_unary(project=PROJECT, zone=zone, instance=name))
    zone, name = observed["group.app[0]"].id.split("/")[3::2]
    cloud.succeed(cloud.instances.stop_unary(project=PROJECT, zone=zone, instance=name))
    rule = observed[next(a for a in observed if a.startswith("firewall.edge."))].id.rsplit("/", 1)[1]
    cloud.succeed(cloud.firewalls.delete_unary(project=PROJECT, firewall=rule))
    by = {c.address: c for c in pending(sf).actionable}
    assert by["group.app[1]"].action is Action.CREATE
    assert by["group.app[0]"].action is Action.UPDATE and by["group.app[0]"].fields[0].name == "state"
    assert [c.action for a, c in by.items() if a.startswith("firewall.")] == [Action.CREATE]
    converge(sf)
    assert not pending(sf).has_changes
    assert all(i.status == "RUNNING" for i in cloud.instances_of("gcp-web"))


def test_leftovers_of_an_interrupted_replacement_are_deleted(cloud):
    sf = load()
    converge(sf)
    changed = edited(*EDITS["template change"])
    engine = engine_for(changed)
    observed = engine.observe()
    plan = engine.plan(observed)
    creates_only = dataclasses.replace(plan, changes=tuple(
        c for c in plan.changes if c.address in ("instance_template.node", "group.edge[0]")))
    original = engine.provider.apply
    engine.provider.apply = lambda step, ids: None if step.op == "delete" else original(step, ids)
    engine.apply(creates_only, observed)  # a crash after the creates: the old ones are still there
    leftovers = {a for a in engine_for(changed).observe().resources if "~" in a}
    assert {a.split("~")[0] for a in leftovers} == {"instance_template.node", "group.edge[0]"}
    converge(changed)
    assert not pending(changed).has_changes
    assert len(cloud.instances_of("gcp-web", "edge")) == 1 and len(cloud.names(cloud.templates)) == 1
