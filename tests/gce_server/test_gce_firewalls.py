"""Firewall rules: lifecycle, patch merges, update replaces, and the rule checks the real API makes."""

from __future__ import annotations

import pytest
from gce_cloud import PROJECT, operation_error
from google.api_core import exceptions
from google.cloud import compute_v1


def test_firewall_lifecycle(cloud):
    cloud.succeed(cloud.network())
    cloud.succeed(cloud.firewall(target_tags=["web"], priority=900))
    rule = cloud.firewalls.get(project=PROJECT, firewall="ssh")
    assert rule.direction == "INGRESS"
    assert rule.priority == 900
    assert [(a.I_p_protocol, list(a.ports)) for a in rule.allowed] == [("tcp", ["22"])]
    assert list(rule.source_ranges) == ["0.0.0.0/0"]
    assert list(rule.target_tags) == ["web"]
    assert rule.network.endswith("/global/networks/vpc")
    assert [f.name for f in cloud.firewalls.list(project=PROJECT)] == ["ssh"]

    cloud.succeed(cloud.firewalls.delete_unary(project=PROJECT, firewall="ssh"))
    with pytest.raises(exceptions.NotFound):
        cloud.firewalls.get(project=PROJECT, firewall="ssh")


def test_defaults_priority_1000_and_egress_to_anywhere(cloud):
    cloud.succeed(cloud.network())
    cloud.succeed(cloud.firewall(name="out", direction="EGRESS", source_ranges=[]))
    rule = cloud.firewalls.get(project=PROJECT, firewall="out")
    assert rule.priority == 1000
    assert list(rule.destination_ranges) == ["0.0.0.0/0"]


def test_patch_merges_the_fields_sent(cloud):
    cloud.succeed(cloud.network())
    cloud.succeed(cloud.firewall(target_tags=["web"]))
    change = compute_v1.Firewall(source_ranges=["10.0.0.0/8"])
    cloud.succeed(cloud.firewalls.patch_unary(project=PROJECT, firewall="ssh", firewall_resource=change))
    rule = cloud.firewalls.get(project=PROJECT, firewall="ssh")
    assert list(rule.source_ranges) == ["10.0.0.0/8"]
    assert list(rule.target_tags) == ["web"]
    assert rule.allowed[0].ports == ["22"]


def test_update_replaces_the_rule_from_what_was_read(cloud):
    cloud.succeed(cloud.network())
    cloud.succeed(cloud.firewall(target_tags=["web"]))
    rule = cloud.firewalls.get(project=PROJECT, firewall="ssh")
    rule.allowed = [compute_v1.Allowed(I_p_protocol="tcp", ports=["80", "443"])]
    del rule.target_tags[:]
    cloud.succeed(cloud.firewalls.update_unary(project=PROJECT, firewall="ssh", firewall_resource=rule))
    updated = cloud.firewalls.get(project=PROJECT, firewall="ssh")
    assert list(updated.allowed[0].ports) == ["80", "443"]
    assert not updated.target_tags
    assert updated.id == rule.id


def test_network_of_a_rule_cannot_change(cloud):
    cloud.succeed(cloud.network())
    cloud.succeed(cloud.network("other"))
    cloud.succeed(cloud.firewall())
    change = compute_v1.Firewall(network="global/networks/other")
    with pytest.raises(exceptions.BadRequest, match="network"):
        cloud.firewalls.patch_unary(project=PROJECT, firewall="ssh", firewall_resource=change)


@pytest.mark.parametrize(
    "fields, complaint",
    [
        ({"denied": [compute_v1.Denied(I_p_protocol="udp")]}, "Exactly one of 'allowed' or 'denied'"),
        ({"allowed": []}, "Exactly one of 'allowed' or 'denied'"),
        ({"allowed": [compute_v1.Allowed(I_p_protocol="tcp", ports=["70000"])]}, "ports"),
        ({"allowed": [compute_v1.Allowed(I_p_protocol="tcp", ports=["90-80"])]}, "ports"),
        ({"allowed": [compute_v1.Allowed(I_p_protocol="icmp", ports=["1"])]}, "ports"),
        ({"allowed": [compute_v1.Allowed(I_p_protocol="gre2")]}, "IPProtocol"),
        ({"source_ranges": []}, "sourceRanges"),
        ({"source_ranges": ["10.0.0.0/33"]}, "sourceRanges"),
        ({"priority": 70000}, "priority"),
        ({"direction": "SIDEWAYS"}, "direction"),
        ({"direction": "EGRESS"}, "EGRESS"),
        ({"target_tags": ["Web"]}, "targetTags"),
    ],
)
def test_rule_checks_are_400(cloud, fields, complaint):
    with pytest.raises(exceptions.BadRequest, match=complaint):
        cloud.firewall(**fields)


def test_source_tags_are_a_source(cloud):
    cloud.succeed(cloud.network())
    cloud.succeed(cloud.firewall(name="from-edge", source_ranges=[], source_tags=["edge"]))
    assert list(cloud.firewalls.get(project=PROJECT, firewall="from-edge").source_tags) == ["edge"]


def test_missing_network_fails_the_operation(cloud):
    operation = cloud.wait(cloud.firewall(network="nowhere"))
    assert operation_error(operation) == ("RESOURCE_NOT_FOUND", 404)
    with pytest.raises(exceptions.NotFound):
        cloud.firewalls.get(project=PROJECT, firewall="ssh")
