"""Observation is one batched, paginated, API-filtered list per resource type: its requests
grow with pages, never with resources, and every request is counted."""

from __future__ import annotations

import pytest
from gcp_engine import PROJECT, Cloud, converge, edited, engine_for, load
from google.cloud import compute_v1

from providers.gcp.ownership import description

pytestmark = pytest.mark.usefixtures("gcp")

ONE_LIST_EACH = {
    "compute.networks.list": 1, "compute.subnetworks.aggregatedList": 1, "compute.firewalls.list": 1,
    "compute.instanceTemplates.list": 1, "compute.instances.aggregatedList": 1,
}


def sized(app: int):
    return edited(("{min: 2, max: 6, desired: 3}", f"{{min: 2, max: 40, desired: {app}}}"))


@pytest.mark.parametrize("app", [3, 24])
def test_observation_requests_do_not_grow_with_resources(gcp, app):
    sf = sized(app)
    converge(sf)
    engine = engine_for(sf)
    before = gcp.requests
    observed = engine.observe()
    assert sum(1 for a in observed.resources if a.startswith("group.app[")) == app
    assert dict(engine.provider.calls) == ONE_LIST_EACH
    assert gcp.requests - before == engine.provider.calls  # the count is what the API really received


def test_lists_are_paged_and_filtered_by_the_api_not_here(gcp, monkeypatch):
    sf = load()
    converge(sf)
    cloud = Cloud(gcp)
    for i in range(12):  # another stack's rules and unmarked ones, on our network
        note = description("other", f"firewall.x.{i}") if i % 2 else "made by hand"
        cloud.succeed(cloud.firewalls.insert_unary(project=PROJECT, firewall_resource=compute_v1.Firewall(
            name=f"foreign-{i}", description=note, network="global/networks/gcp-web-net",
            source_ranges=["10.0.0.0/8"], allowed=[compute_v1.Allowed(I_p_protocol="icmp")])))
    full = engine_for(sf).observe()
    monkeypatch.setattr("providers.gcp.session.PAGE_SIZE", 3)
    engine = engine_for(sf)
    paged = engine.observe()
    assert paged.resources == full.resources
    # 4 of our rules and 4 instances in pages of 3: two pages each; the 12 foreign rules never came back
    assert engine.provider.calls["compute.firewalls.list"] == 2
    assert engine.provider.calls["compute.instances.aggregatedList"] == 2
    assert engine.provider.calls["compute.networks.list"] == 1


def test_apply_requests_are_counted_per_method(gcp):
    engine = engine_for(load())
    before = gcp.requests
    observed = engine.observe()
    engine.apply(engine.plan(observed), observed)
    calls = engine.provider.calls
    assert gcp.requests - before == calls
    assert calls["compute.instances.insert"] == 4 and calls["compute.firewalls.insert"] == 4
    assert calls["compute.zoneOperations.wait"] >= 4 and calls["compute.globalOperations.wait"] >= 6
