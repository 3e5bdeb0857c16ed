"""One step at a time: create, update or delete one Compute Engine resource and wait for it.

Cloud ids are resource paths (``projects/P/zones/Z/instances/NAME``): they say
which client, scope and name a later step needs. Each step is idempotent:
a create that finds its name taken by the resource this stack already made at
this address (an earlier attempt that crashed before it was observed) adopts
it; a delete of something already gone succeeds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from google.cloud import compute_v1

from iacorch.errors import ProviderError
from iacorch.plan import Action, Change
from iacorch.provider import IdMap, Step
from providers.gcp import operations
from providers.gcp.errors import GceError, translate
from providers.gcp.model import instance_name
from providers.gcp.operations import wait_for
from providers.gcp.ownership import (
    LABEL_GROUP,
    LABEL_SOURCE_TEMPLATE,
    LABEL_STACK,
    LABEL_TEMPLATE,
    LABEL_TEMPLATE_VERSION,
    description,
    owner_of,
)
from providers.gcp.session import GceSession
from providers.material import TemplateMaterial

# path segment of a collection -> (service, its name parameter, the scope parameter before it)
_COLLECTIONS = {
    "networks": ("networks", "network", None),
    "subnetworks": ("subnetworks", "subnetwork", "region"),
    "firewalls": ("firewalls", "firewall", None),
    "instanceTemplates": ("instance_templates", "instance_template", None),
    "instances": ("instances", "instance", "zone"),
}


def locate(path: str) -> tuple[str, dict[str, str]]:
    """The service and request parameters that name the resource at ``path``."""
    parts = path.split("/")  # projects/P/global/C/N or projects/P/regions|zones/S/C/N
    service, key, scope = _COLLECTIONS[parts[-2]]
    params = {key: parts[-1]}
    if scope:
        params[scope] = parts[3]
    return service, params


class GcpSteps:
    def __init__(self, session: GceSession, stack: str, inputs: TemplateInputs) -> None:
        self.s = session
        self.stack = stack
        self.inputs = inputs
        self.poll = 0.05 if session.local_endpoint else 2.0

    def run(self, step: Step, ids: IdMap) -> str | None:
        c = step.change
        handler: Callable[[Change, IdMap], str | None] | None = getattr(self, f"{step.op}_{c.kind}", None)
        if handler is None:
            raise ProviderError(f"the GCP provider cannot {step.op} a {c.kind}", where=c.address,
                                hint="this is a bug in iacorch's GCP model")
        with translate(c.address, self.s.endpoint):
            return handler(c, ids)

    # -- shared ------------------------------------------------------------------------
    def _path(self, *parts: str) -> str:
        return "/".join(("projects", self.s.project, *parts))

    def _ref(self, ids: IdMap, value: str) -> str:
        """An address of this stack becomes its path; anything else is already a path."""
        return value if value.startswith("projects/") else ids[value]

    def _create(self, c: Change, path: str, insert: Callable[[], Any]) -> str:
        if c.action is Action.REPLACE and c.create_before_destroy and path == c.id:
            raise ProviderError("its replacement would take the name of the resource it replaces",
                                where=c.address, hint="this is a bug in iacorch's GCP model")
        try:
            with translate(c.address, self.s.endpoint):
                operation = insert()
        except GceError as exc:
            if exc.status == 409 and path != c.id and self._ours(path, c.address):
                return path
            raise
        wait_for(self.s, operation, c.address)
        return path

    def _ours(self, path: str, address: str) -> bool:
        service, params = locate(path)
        existing = self.s.call(service, "get", **params)
        owner = owner_of(existing.description)
        return owner is not None and (owner.stack, owner.address) == (self.stack, address)

    def _delete(self, c: Change, ids: IdMap) -> None:
        service, params = locate(c.id or "")
        try:
            with translate(c.address, self.s.endpoint):
                operation = self.s.call(service, "delete_unary", **params)
            wait_for(self.s, operation, c.address)
        except GceError as exc:
            if exc.status != 404:
                raise

    delete_network = delete_subnetwork = delete_firewall = delete_instance_template = delete_instance = _delete

    # -- network and subnetworks -------------------------------------------------------
    def create_network(self, c: Change, ids: IdMap) -> str:
        body = compute_v1.Network(name=c.after["name"], description=description(self.stack, c.address),
                                  auto_create_subnetworks=False)
        return self._create(c, self._path("global", "networks", c.after["name"]),
                            lambda: self.s.call("networks", "insert_unary", network_resource=body))

    def create_subnetwork(self, c: Change, ids: IdMap) -> str:
        region = c.after["region"]
        body = compute_v1.Subnetwork(name=c.after["name"], description=description(self.stack, c.address),
                                     network=self._ref(ids, c.after["network"]), ip_cidr_range=c.after["cidr"])
        return self._create(c, self._path("regions", region, "subnetworks", c.after["name"]),
                            lambda: self.s.call("subnetworks", "insert_unary", region=region,
                                                subnetwork_resource=body))

    # -- firewall rules ----------------------------------------------------------------
    def create_firewall(self, c: Change, ids: IdMap) -> str:
        a = c.after
        body = compute_v1.Firewall(
            name=a["name"], description=description(self.stack, c.address, a.get("description")),
            network=self._ref(ids, a["network"]), direction="INGRESS", priority=1000,
            allowed=[compute_v1.Allowed(I_p_protocol=r["protocol"], ports=r.get("ports", []))
                     for r in a["allowed"]],
            source_ranges=a["source_ranges"], source_tags=a["source_tags"], target_tags=a["target_tags"])
        return self._create(c, self._path("global", "firewalls", a["name"]),
                            lambda: self.s.call("firewalls", "insert_unary", firewall_resource=body))

    def update_firewall(self, c: Change, ids: IdMap) -> None:
        body = compute_v1.Firewall(description=description(self.stack, c.address, c.after.get("description")))
        operation = self.s.call("firewalls", "patch_unary", firewall=locate(c.id or "")[1]["firewall"],
                                firewall_resource=body)
        wait_for(self.s, operation, c.address)

    # -- instance templates ------------------------------------------------------------
    def create_instance_template(self, c: Change, ids: IdMap) -> str:
        a = c.after
        template = c.address.split(".", 1)[1]
        metadata = [compute_v1.Items(key="ssh-keys", value=self.inputs.ssh_keys(template, a["ssh_user"],
                                                                               a["ssh_key_sha256"]))]
        user_data = self.inputs.user_data(template, a["user_data_sha256"])
        if user_data:
            metadata.append(compute_v1.Items(key="user-data", value=user_data))
        disk = compute_v1.AttachedDiskInitializeParams(source_image=a["image"])
        if a.get("disk_gb"):
            disk.disk_size_gb = a["disk_gb"]
        body = compute_v1.InstanceTemplate(
            name=a["name"], description=description(self.stack, c.address),
            properties=compute_v1.InstanceProperties(
                machine_type=a["machine_type"],
                disks=[compute_v1.AttachedDisk(boot=True, auto_delete=True, initialize_params=disk)],
                network_interfaces=[compute_v1.NetworkInterface(network=self._ref(ids, a["network"]))],
                metadata=compute_v1.Metadata(items=metadata)))
        return self._create(c, self._path("global", "instanceTemplates", a["name"]),
                            lambda: self.s.call("instance_templates", "insert_unary",
                                                instance_template_resource=body))

    # -- instances ---------------------------------------------------------------------
    def create_instance(self, c: Change, ids: IdMap) -> str:
        a = c.after
        name, zone = instance_name(self.stack, c.address, a), a["zone"]
        source = ids[a["template"]]
        labels = {LABEL_STACK: self.stack, LABEL_GROUP: c.address.removeprefix("group.").split("[", 1)[0],
                  LABEL_TEMPLATE: a["template"].split(".", 1)[1], LABEL_TEMPLATE_VERSION: a["template_version"],
                  LABEL_SOURCE_TEMPLATE: source.rsplit("/", 1)[1]}
        access = [compute_v1.AccessConfig(name="External NAT", type_="ONE_TO_ONE_NAT")] if a["external_ip"] else []
        body = compute_v1.Instance(
            name=name, description=description(self.stack, c.address), labels=labels,
            tags=compute_v1.Tags(items=a["network_tags"]),
            network_interfaces=[compute_v1.NetworkInterface(subnetwork=ids[a["subnet"]], access_configs=access)])
        path = self._create(c, self._path("zones", zone, "instances", name),
                            lambda: self.s.call("instances", "insert_unary", zone=zone, instance_resource=body,
                                                source_instance_template=source))
        self._until_running(c.address, zone, name)
        return path

    def update_instance(self, c: Change, ids: IdMap) -> None:
        params = locate(c.id or "")[1]
        changed = {f.name for f in c.fields}
        if "network_tags" in changed:
            current = self.s.call("instances", "get", **params)
            operation = self.s.call("instances", "set_tags_unary", **params, tags_resource=compute_v1.Tags(
                items=c.after["network_tags"], fingerprint=current.tags.fingerprint))
            wait_for(self.s, operation, c.address)
        if "state" in changed and c.after["state"] == "running":
            wait_for(self.s, self.s.call("instances", "start_unary", **params), c.address)
            self._until_running(c.address, params["zone"], params["instance"])

    def _until_running(self, address: str, zone: str, name: str) -> None:
        """The insert is DONE when the instance exists; it boots on through STAGING to RUNNING."""
        timeout = operations.TIMEOUT
        deadline = time.monotonic() + timeout
        while True:
            status = self.s.call("instances", "get", zone=zone, instance=name).status
            if status == "RUNNING":
                return
            if status in ("STOPPING", "TERMINATED", "SUSPENDING", "SUSPENDED"):
                raise ProviderError(f"the instance stopped while it was starting ({status})", where=address,
                                    hint="see its serial console output; then run apply again")
            if time.monotonic() >= deadline:
                raise ProviderError(f"the instance is still {status} after {timeout:.0f}s", where=address,
                                    hint="run plan to see where things stand, then apply again")
            time.sleep(self.poll)


class TemplateInputs(TemplateMaterial):
    """What template steps read from the user's machine (see ``providers.material``)."""

    def ssh_keys(self, template: str, user: str, expect_sha: str) -> str:
        """The ``ssh-keys`` metadata value: ``USER:KEY``."""
        return f"{user}:{self.public_key(template, expect_sha)}"
