"""Real hosts behind the local GCE API's instances (see ``moto_fixtures.binder``).

Instances carrying the ``iacorch-stack`` label get a testbed VM each, bound
under their path (``projects/P/zones/Z/instances/NAME``, the cloud id the GCP
provider knows them by). PROVISIONING, STAGING and RUNNING instances have a
running VM; STOPPING and TERMINATED (GCE's "stopped") ones a stopped VM; a
deleted instance leaves the listing and its VM is removed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from google.cloud import compute_v1

from moto_fixtures.binder import GONE, RUNNING, STOPPED, HostBinder
from moto_fixtures.gce.clients import compute_client
from moto_fixtures.testbed import VmTestbed

_STATES = {"PROVISIONING": RUNNING, "STAGING": RUNNING, "RUNNING": RUNNING, "REPAIRING": RUNNING,
           "STOPPING": STOPPED, "TERMINATED": STOPPED, "SUSPENDING": STOPPED, "SUSPENDED": STOPPED}
_API_ROOT = "/compute/v1/"


class GceHostBinder(HostBinder):
    name = "gce-binder"
    vanished_is_gone = True

    def __init__(self, testbed: VmTestbed, endpoint_url: str, bindings: Path, authorized_keys: str, *,
                 project: str = "iacorch-demo", poll: float = 0.3) -> None:
        self.project = project
        self.instances = compute_client(compute_v1.InstancesClient, endpoint_url)
        super().__init__(testbed, bindings, authorized_keys, poll=poll)

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self.instances.transport.close()

    def list_instances(self) -> dict[str, str]:
        pager = self.instances.aggregated_list(request={"project": self.project, "filter": "labels.iacorch-stack:*"})
        return {path_of(item.self_link): item.status for _, scoped in pager for item in scoped.instances}

    def classify(self, state: str) -> str:
        return _STATES.get(state, GONE)

    def vm_suffix(self, ident: str) -> str:
        return "g" + hashlib.sha256(ident.encode()).hexdigest()[:8]


def path_of(self_link: str) -> str:
    """``https://.../compute/v1/projects/P/zones/Z/instances/N`` -> ``projects/P/zones/Z/instances/N``."""
    return self_link.split(_API_ROOT, 1)[1] if _API_ROOT in self_link else self_link
