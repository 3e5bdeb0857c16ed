"""How API failures are explained, for messages as the real Compute Engine API words them. Pure."""

from __future__ import annotations

import pytest

from providers.gcp.errors import explain

CASES = [
    # (status, reason or operation error code, the API's message, where, summary, a phrase of the hint)
    (400, "invalid", ("Invalid value for field 'resource.machineType': 'zones/us-central1-a/machineTypes/e2-huge'. "
                      "Machine type with name 'e2-huge' does not exist in zone 'us-central1-a'."), "group.app[0]",
     "the machine type does not exist", "launch_templates.*.machine_type"),
    (404, "notFound", "The resource 'projects/debian-cloud/global/images/family/debian-99' was not found",
     "instance_template.node", "the image does not exist", "launch_templates.node.image"),
    (404, "notFound", "The resource 'projects/my-projet' was not found", "gcp project my-projet",
     "the project does not exist or is not visible", "check provider.gcp.project"),
    (404, "notFound", "The resource 'projects/p/zones/us-central1-z' was not found", "group.app[1]",
     "the zone does not exist or is not in the region", "check provider.gcp.zones"),
    (404, "notFound", "The resource 'projects/p/zones/us-central1-a/instances/web-app-0-1a2b3c' was not found",
     "group.app[0]", "not found", "deleted outside iacorch"),
    (403, "QUOTA_EXCEEDED", "Quota 'IN_USE_ADDRESSES' exceeded.  Limit: 8.0 in region us-central1.", "group.app[3]",
     "quota exceeded", "public: false gives no external IP"),
    (409, "alreadyExists", "The resource 'projects/p/global/networks/web-net' already exists", "network.main",
     "a resource with this name already exists", "not made by this stack"),
    (400, "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE", ("The network resource 'projects/p/global/networks/web-net' is "
                                                  "already being used by 'projects/p/global/firewalls/allow-ssh'"),
     "network.main", "it is still in use",
     "something outside this stack still uses it"),
    (503, "backendError", "Internal error. Please try again.", "subnetwork.a", "the API failed internally",
     "run apply again"),
    (403, "forbidden", "Required 'compute.networks.create' permission for 'projects/p'", "network.main",
     "permission denied", "roles/compute.admin"),
]


@pytest.mark.parametrize("status, reason, message, where, summary, hint", CASES)
def test_each_failure_gets_a_summary_and_a_hint(status, reason, message, where, summary, hint):
    error = explain(status, reason, message, where)
    assert str(error).startswith(f"{where}: {summary}: {message}")
    assert hint in error.hint
    assert (error.status, error.reason) == (status, reason)
