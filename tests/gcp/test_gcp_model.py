"""The pure GCP model: what stacks/gcp-web.yaml becomes on GCE, placement, rule digests, names, ownership."""

from __future__ import annotations

import re
import subprocess
import sys

from gcp_engine import REFERENCE, ROOT, edited, load

from iacorch.plan import Action
from iacorch.planner import plan
from iacorch.resources import Observed, ObservedResource
from providers.gcp.model import KINDS, GcpModel, instance_name
from providers.gcp.ownership import MAX_NAME, description, description_filter, name, owner_of

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFGasxJSZtcAkW/hMIIK3GJ/uxrKMkcURUVPcEWe3nmi gcp-model-test"
GCE_NAME = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")


def model() -> GcpModel:
    return GcpModel({"node": KEY})


def desired(sf) -> dict:
    stack = sf.stack
    out = {r.address: r for r in model().infrastructure(stack)}
    for group, g in stack.groups.items():
        for i in range(g.size.target):
            r = model().instance(stack, group, i)
            out[r.address] = r
    return out


def as_observed(resources: dict) -> Observed:
    return Observed("gcp-web", "gcp", {a: ObservedResource(a, r.kind, f"id-{a}", dict(r.attrs), r.deps)
                                       for a, r in resources.items()})


def test_the_reference_stack_maps_onto_gce_resources():
    got = desired(load())
    kinds = sorted((a.split(".")[0] if r.kind == "firewall" else a, r.kind) for a, r in got.items())
    assert kinds == sorted([
        ("network.main", "network"), ("subnetwork.public-a", "subnetwork"), ("subnetwork.public-b", "subnetwork"),
        *[("firewall", "firewall")] * 4, ("instance_template.node", "instance_template"),
        ("group.edge[0]", "instance"), ("group.app[0]", "instance"), ("group.app[1]", "instance"),
        ("group.app[2]", "instance")])
    assert got["subnetwork.public-b"].attrs == {"name": "gcp-web-public-b", "network": "network.main",
                                                "region": "us-central1", "cidr": "10.20.2.0/24"}
    template = got["instance_template.node"].attrs
    assert template["machine_type"] == "e2-small"
    assert template["image"] == "projects/debian-cloud/global/images/family/debian-12"
    assert template["ssh_user"] == "admin"
    assert all(GCE_NAME.fullmatch(r.attrs["name"]) for r in got.values() if "name" in r.attrs)


def test_security_groups_become_firewall_rules_on_network_tags():
    rules = [r.attrs for r in desired(load()).values() if r.kind == "firewall"]
    app_from_edge = [r for r in rules if r["source_tags"]]
    assert app_from_edge == [{
        "name": app_from_edge[0]["name"], "network": "network.main",
        "allowed": [{"protocol": "tcp", "ports": ["8080"]}], "source_ranges": [], "source_tags": ["edge"],
        "target_tags": ["app"], "description": "app servers, reachable on 8080 only from the edge"}]
    edge_web = [r for r in rules if r["allowed"] == [{"protocol": "tcp", "ports": ["80", "443"]}]]
    assert [(r["source_ranges"], r["target_tags"]) for r in edge_web] == [(["0.0.0.0/0"], ["edge"])]
    instances = [r.attrs for r in desired(load()).values() if r.kind == "instance"]
    assert {tuple(i["network_tags"]) for i in instances} == {("edge",), ("app",)}


def test_instances_spread_over_zones_and_subnets_round_robin():
    sf = edited(("zones: [us-central1-a, us-central1-b]", "zones: [us-central1-a, us-central1-b, us-central1-c]"))
    placed = [model().instance(sf.stack, "app", i).attrs for i in range(6)]
    assert [p["zone"][-1] for p in placed] == list("abcabc")
    assert [p["subnet"] for p in placed] == ["subnetwork.public-a", "subnetwork.public-b"] * 3
    assert all(p["external_ip"] and p["state"] == "running" for p in placed)


def test_a_rule_change_is_a_rule_level_diff_and_rule_order_does_not_matter():
    before = {a for a, r in desired(load()).items() if r.kind == "firewall"}
    edge_rules = ("      - {ports: [80, 443], from: 0.0.0.0/0}\n"
                  "      - {ports: [22], from: 0.0.0.0/0, description: ssh for iacorch}\n")
    reordered = ("      - {ports: [22], from: 0.0.0.0/0, description: ssh for iacorch}\n"
                 "      - {ports: [443, 80], from: 0.0.0.0/0}\n")
    swapped = edited((edge_rules, reordered))
    assert {a for a, r in desired(swapped).items() if r.kind == "firewall"} == before
    widened = edited(("ports: [8080], from_group: edge", "ports: [8080, 9000-9010], from_group: edge"))
    p = plan(widened.stack, as_observed(desired(load())), model())
    assert sorted((c.action, c.kind) for c in p.actionable) == [(Action.CREATE, "firewall"),
                                                                (Action.DELETE, "firewall")]
    created = next(c for c in p.actionable if c.action is Action.CREATE)
    assert created.after["allowed"] == [{"protocol": "tcp", "ports": ["8080", "9000-9010"]}]


def test_a_template_change_replaces_the_template_first_and_rolls_the_instances():
    p = plan(edited(("app_type: e2-small", "app_type: e2-medium")).stack, as_observed(desired(load())), model())
    by = {c.address: c for c in p.actionable}
    template = by.pop("instance_template.node")
    assert template.action is Action.REPLACE and template.create_before_destroy
    assert template.after["name"] != template.before["name"]  # the new one can exist beside the old
    assert {a: (c.action, c.batch) for a, c in by.items()} == {
        "group.edge[0]": (Action.REPLACE, 1), "group.app[0]": (Action.REPLACE, 1),
        "group.app[1]": (Action.REPLACE, 2), "group.app[2]": (Action.REPLACE, 3)}
    assert "template_version, machine_type changed" in by["group.app[0]"].reason
    assert any("rolling replace of 3 instance(s), 1 at a time" in n for n in p.notes)
    for c in by.values():
        assert instance_name("gcp-web", c.address, c.after) != instance_name("gcp-web", c.address, c.before)


def test_tags_change_in_place_and_subnet_cidrs_destroy_first():
    sf = edited(("security_groups: [app], size: {min", "security_groups: [app, edge], size: {min"))
    p = plan(sf.stack, as_observed(desired(load())), model())
    assert {(c.address, c.action) for c in p.actionable} == {
        (f"group.app[{i}]", Action.UPDATE) for i in range(3)}
    assert p.actionable[0].fields[0].added == ("edge",)
    p = plan(edited(("10.20.2.0/24", "10.20.3.0/24")).stack, as_observed(desired(load())), model())
    by = {c.address: c for c in p.actionable}
    assert set(by) == {"subnetwork.public-b", "group.app[1]"}
    assert not by["subnetwork.public-b"].create_before_destroy and not by["group.app[1]"].create_before_destroy


def test_every_template_field_forces_a_new_template():
    assert KINDS["instance_template"].create_before_destroy
    assert set(model().template_attrs(load().stack, "node")) == KINDS["instance_template"].replace_fields


def test_ownership_descriptions_round_trip_and_foreign_ones_are_not_ours():
    text = description("web", "firewall.app.0a1b2c3d", "ssh\nfor  iacorch")
    assert text == "iacorch stack=web address=firewall.app.0a1b2c3d | ssh for iacorch"
    owner = owner_of(text)
    assert (owner.stack, owner.address, owner.note) == ("web", "firewall.app.0a1b2c3d", "ssh for iacorch")
    assert owner_of(description("web", "group.app[0]")).address == "group.app[0]"
    for foreign in ("", None, "made by hand", "iacorch stack=Web address=x", "iacorch stack=web"):
        assert owner_of(foreign) is None
    assert description_filter("web") == 'description eq "iacorch stack=web address=.*"'


def test_long_names_stay_valid_and_distinct():
    a, b = name("s" * 40, "g" * 40, "1"), name("s" * 40, "g" * 40, "2")
    assert len(a) <= MAX_NAME and GCE_NAME.fullmatch(a) and a != b
    assert name("web", "app", "0") == "web-app-0"


def test_the_model_imports_no_google_sdk():
    code = ("import sys, providers.gcp.model, providers.gcp.ownership; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'google'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_plan_against_what_the_model_desires_is_empty():
    sf = load(REFERENCE)
    assert not plan(sf.stack, as_observed(desired(sf)), model()).has_changes
