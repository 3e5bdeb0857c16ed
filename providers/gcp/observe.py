"""One pass of batched, paginated, server-filtered lists: one per resource type.

Networks, firewalls and instance templates are global lists; subnetworks and
instances are each one aggregatedList across every region or zone (so a
resource left in a zone the stack no longer names is still found and
deleted). Each list is filtered by the API on our ownership mark (see
``ownership``) and read in pages of 500, so the number of requests grows with
pages, never with resources. Items are read back into the shape the model
produces, with links turned back into addresses.

Two resources claiming one address (left behind when a create-before-destroy
replacement was interrupted between its create and its delete) are both kept:
the newest holds the address, the others get ``ADDRESS~NAME``, which no
desired resource has, so the next plan deletes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from iacorch.resources import Observed, ObservedResource
from providers.gcp.errors import translate
from providers.gcp.model import api_path, public_key_sha256, user_data_sha256
from providers.gcp.ownership import (
    LABEL_SOURCE_TEMPLATE,
    LABEL_TEMPLATE_VERSION,
    description_filter,
    label_filter,
    owner_of,
)
from providers.gcp.session import GceSession

RUNNING_STATES = {"PROVISIONING", "STAGING", "RUNNING", "REPAIRING"}


def observe(session: GceSession, stack: str) -> Observed:
    owned = description_filter(stack)
    with translate(f"gcp project {session.project}", session.endpoint):
        networks = session.list_all("networks", owned)
        subnetworks = session.list_across("subnetworks", "subnetworks", owned)
        firewalls = session.list_all("firewalls", owned)
        templates = session.list_all("instance_templates", owned)
        instances = session.list_across("instances", "instances", label_filter(stack))

    claims = _claims(stack, [("network", networks), ("subnetwork", subnetworks), ("firewall", firewalls),
                             ("instance_template", templates), ("instance", instances)])
    by_path = {_path(item): address for address, (_, item) in claims.items()}

    def ref(link: str | None) -> str | None:
        path = api_path(link)
        return by_path.get(path, path) if path else None

    template_attrs: dict[str, dict[str, Any]] = {}
    found: dict[str, ObservedResource] = {}
    for address, (kind, item) in claims.items():
        if kind == "network":
            attrs = {"name": item.name, "auto_subnetworks": bool(item.auto_create_subnetworks)}
        elif kind == "subnetwork":
            attrs = {"name": item.name, "network": ref(item.network), "region": _last(item.region),
                     "cidr": item.ip_cidr_range}
        elif kind == "firewall":
            attrs = _firewall(item, ref)
        elif kind == "instance_template":
            attrs = template_attrs[item.name] = _template(item, ref)
        else:
            continue
        found[address] = _resource(address, kind, item, attrs)
    for address, (kind, item) in claims.items():
        if kind == "instance":
            found[address] = _instance(address, item, ref, template_attrs)
    return Observed(stack=stack, provider="gcp", resources=found)


def _claims(stack: str, lists: Iterable[tuple[str, list[Any]]]) -> dict[str, tuple[str, Any]]:
    """address -> (kind, item) for everything whose description names an address of ``stack``."""
    by_address: dict[str, list[tuple[str, Any]]] = {}
    for kind, items in lists:
        for item in items:
            owner = owner_of(item.description)
            if owner is not None and owner.stack == stack:
                by_address.setdefault(owner.address, []).append((kind, item))
    claims: dict[str, tuple[str, Any]] = {}
    for address, holders in by_address.items():
        newest_first = sorted(holders, key=lambda h: _created(h[1]), reverse=True)
        claims[address] = newest_first[0]
        for kind, item in newest_first[1:]:
            claims[f"{address}~{item.name}"] = (kind, item)
    return claims


def _created(item: Any) -> datetime:
    try:
        return datetime.fromisoformat(item.creation_timestamp)
    except ValueError:
        return datetime.min


def _path(item: Any) -> str:
    return api_path(item.self_link) or item.self_link


def _last(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[-1]


def _resource(address: str, kind: str, item: Any, attrs: dict[str, Any]) -> ObservedResource:
    deps = [v for k, v in attrs.items() if k in ("network", "template", "subnet") and isinstance(v, str)]
    return ObservedResource(address, kind, _path(item), attrs,
                            deps=tuple(dict.fromkeys(d for d in deps if not d.startswith("projects/"))))


def _firewall(item: Any, ref) -> dict[str, Any]:
    allowed = []
    for a in item.allowed:
        entry: dict[str, Any] = {"protocol": a.I_p_protocol}
        if a.ports:
            entry["ports"] = list(a.ports)
        allowed.append(entry)
    return {
        "name": item.name, "network": ref(item.network), "allowed": allowed,
        "source_ranges": sorted(item.source_ranges), "source_tags": sorted(item.source_tags),
        "target_tags": sorted(item.target_tags), "description": owner_of(item.description).note,
    }


def _template(item: Any, ref) -> dict[str, Any]:
    props = item.properties
    params = props.disks[0].initialize_params if props.disks else None
    metadata = {m.key: m.value for m in props.metadata.items}
    user, _, key = metadata.get("ssh-keys", "").partition(":")
    nics = props.network_interfaces
    return {
        "name": item.name,
        "network": ref(nics[0].network) if nics else None,
        "machine_type": props.machine_type,
        "image": api_path(params.source_image) if params else None,
        "disk_gb": (params.disk_size_gb or None) if params else None,
        "ssh_user": user or None,
        "ssh_key_sha256": public_key_sha256(key) if key else None,
        "user_data_sha256": user_data_sha256(metadata.get("user-data")),
    }


def _instance(address: str, item: Any, ref, templates: dict[str, dict[str, Any]]) -> ObservedResource:
    labels = dict(item.labels)
    source = labels.get(LABEL_SOURCE_TEMPLATE)
    template = templates.get(source or "")
    nic = item.network_interfaces[0] if item.network_interfaces else None
    access = nic.access_configs[0] if nic and nic.access_configs else None
    attrs = {
        "template": ref(f"projects/{_project(item)}/global/instanceTemplates/{source}") if template else None,
        "template_version": labels.get(LABEL_TEMPLATE_VERSION),
        "machine_type": _last(item.machine_type),
        "image": template["image"] if template else None,
        "subnet": ref(nic.subnetwork) if nic else None,
        "zone": _last(item.zone),
        "external_ip": access is not None,
        "network_tags": sorted(item.tags.items),
        "state": "running" if item.status in RUNNING_STATES else "stopped",
        # where a later layer reaches the host; never desired, so never diffed
        "private_ip": nic.network_i_p if nic else None,
        "public_ip": (access.nat_i_p or None) if access else None,
    }
    return _resource(address, "instance", item, attrs)


def _project(item: Any) -> str:
    return (api_path(item.self_link) or "").split("/")[1]
