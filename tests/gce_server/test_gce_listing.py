"""List filters and pagination, through the real pagers."""

from __future__ import annotations

import pytest
from gce_cloud import PROJECT, ZONE, Cloud
from google.api_core import exceptions
from google.cloud import compute_v1

from moto_fixtures.gce import GceServer

FLEET_LABELS = {
    "web-0": {"stack": "shop", "release": "v1", "role": "web"},
    "web-1": {"stack": "shop", "release": "v1", "role": "web"},
    "web-2": {"stack": "shop", "role": "web"},
    "db-0": {"stack": "shop", "role": "db"},
    "tmp-0": {},
}


@pytest.fixture(scope="module")
def fleet():
    """Five instances on a server of this module's own, only read, all still PROVISIONING."""
    with GceServer() as server:
        server.step_seconds = 60
        cloud = Cloud(server)
        cloud.custom_network_with_subnetwork()
        for name, labels in FLEET_LABELS.items():
            cloud.succeed(cloud.instance(name, labels=labels))
        yield cloud


def names(cloud, filter_text: str, **request) -> list[str]:
    listing = compute_v1.ListInstancesRequest(project=PROJECT, zone=ZONE, filter=filter_text, **request)
    return [instance.name for instance in cloud.instances.list(request=listing)]


@pytest.mark.parametrize(
    "filter_text, expected",
    [
        ("", ["db-0", "tmp-0", "web-0", "web-1", "web-2"]),
        ('labels.stack = "shop"', ["db-0", "web-0", "web-1", "web-2"]),
        ("labels.stack=shop", ["db-0", "web-0", "web-1", "web-2"]),
        ("labels.release:*", ["web-0", "web-1"]),
        ('name = "web-2"', ["web-2"]),
        ("name != web-2", ["db-0", "tmp-0", "web-0", "web-1"]),
        ('labels.role = "web" labels.release = "v1"', ["web-0", "web-1"]),
        ('labels.role = "web" AND labels.release = "v1"', ["web-0", "web-1"]),
        ('(labels.role = "web") (labels.release:*)', ["web-0", "web-1"]),
        ("(labels.role = db) OR (name = tmp-0)", ["db-0", "tmp-0"]),
        ("((labels.role = db) OR (labels.role = web)) AND labels.release:*", ["web-0", "web-1"]),
        ("name eq web-.*", ["web-0", "web-1", "web-2"]),
        ("name eq 'web-[01]'", ["web-0", "web-1"]),
        ("name ne web-.*", ["db-0", "tmp-0"]),
        ('(name eq "web-.*") (labels.release eq v1)', ["web-0", "web-1"]),
        ("name eq web", []),
        ("status = RUNNING", []),
        ("status = PROVISIONING", ["db-0", "tmp-0", "web-0", "web-1", "web-2"]),
    ],
)
def test_filters(fleet, filter_text, expected):
    assert names(fleet, filter_text) == expected


@pytest.mark.parametrize(
    "filter_text",
    [
        "label.stack = shop",
        "labels.stack > shop",
        "labels.stack ~ shop",
        "name = web-*",
        "labels.stack:shop",
        "labels.stack = shop OR name = x AND name = y",
        "(name eq web-.*) (labels.stack = shop)",
        "(name = web-0",
        "name = 'web-0",
        "name eq (",
        "NOT name = web-0",
        "labels = shop",
    ],
)
def test_unsupported_or_broken_filters_are_400_not_ignored(fleet, filter_text):
    with pytest.raises(exceptions.BadRequest, match="filter"):
        names(fleet, filter_text)


def test_pages_of_max_results_through_the_pager(fleet):
    calls_before = fleet.server.requests["compute.instances.list"]
    listing = compute_v1.ListInstancesRequest(project=PROJECT, zone=ZONE, max_results=2)
    pager = fleet.instances.list(request=listing)
    pages = [[instance.name for instance in page.items] for page in pager.pages]
    assert pages == [["db-0", "tmp-0"], ["web-0", "web-1"], ["web-2"]]
    assert fleet.server.requests["compute.instances.list"] - calls_before == 3


def test_filtered_pages(fleet):
    assert names(fleet, "labels.stack = shop", max_results=3) == ["db-0", "web-0", "web-1", "web-2"]


def test_default_page_is_500(cloud, gce):
    gce.step_seconds = 0  # every operation finishes at the next request
    cloud.succeed(cloud.network())
    for index in range(501):
        cloud.firewall(f"rule-{index:03}")
    first = next(iter(cloud.firewalls.list(project=PROJECT).pages))
    assert len(first.items) == 500
    assert first.next_page_token
    assert len(list(cloud.firewalls.list(project=PROJECT))) == 501


def test_page_token_belongs_to_its_query(fleet):
    listing = compute_v1.ListInstancesRequest(project=PROJECT, zone=ZONE, max_results=2)
    token = next(iter(fleet.instances.list(request=listing).pages)).next_page_token
    other = compute_v1.ListInstancesRequest(
        project=PROJECT, zone=ZONE, max_results=2, filter="name = web-0", page_token=token
    )
    with pytest.raises(exceptions.BadRequest, match="pageToken"):
        list(fleet.instances.list(request=other))
    with pytest.raises(exceptions.BadRequest, match="pageToken"):
        names(fleet, "", page_token="garbage")


def test_max_results_over_500_is_400(fleet):
    with pytest.raises(exceptions.BadRequest, match="maxResults"):
        names(fleet, "", max_results=501)


def test_order_by(fleet):
    assert names(fleet, "", order_by="creationTimestamp desc")[0] == "tmp-0"
    with pytest.raises(exceptions.BadRequest, match="orderBy"):
        names(fleet, "", order_by="status")
