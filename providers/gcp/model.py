"""The pure half of the GCP provider: stack -> desired Compute Engine resources.

No google imports here. References between resources are addresses; the
planner diffs these against what ``observe`` reads back in the same shape.

How the stack maps onto GCE:

- ``network.vpc`` -> one custom-mode VPC network (``network.main``). GCE
  networks have no address range of their own; ``vpc.cidr`` only bounds the
  subnetworks (the stack checks enforce that), so it is not an attribute here.
- ``network.subnets.NAME`` -> a regional subnetwork in ``provider.gcp.region``.
  ``public: true`` has no subnetwork counterpart on GCE: it gives the
  instances placed in it an ephemeral external IP (``external_ip``).
- ``security_groups.NAME`` -> one INGRESS firewall rule per ingress rule, aimed
  at instances carrying the network tag NAME (groups that list the security
  group tag their instances with it). ``from_group: G`` becomes source tag G,
  ``from`` CIDRs become source ranges. Each rule's address and name carry a
  digest of its content, so changing one rule deletes that rule and creates
  its successor and leaves the others alone: a rule-level diff.
- ``launch_templates.NAME`` -> an instance template. Templates are immutable
  on GCE, so every field forces a replacement; the name carries a digest of
  the content, so the new template is created before the old one is deleted,
  and the group's instances (whose ``template_version`` changes) are replaced
  in the planner's rolling way in between.
- ``groups.NAME`` -> plain instances ``group.NAME[i]``, instance i in zone
  ``zones[i % n]`` and subnetwork ``subnets[i % m]``, made from the template.

Why plain instances and not a managed instance group: the planner owns
instance-level addresses, placement that stays put (index i keeps its zone
and subnet), and the rolling replacement order (``max_surge``, each new
instance up before an old one goes); the control loop later scales and heals
instance by instance. A MIG would own all three itself, so the plan could no
longer say which instance changes, and the same stack would behave
differently on AWS and GCP.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iacorch.resources import KindSpec, Resource, digest
from iacorch.stack.model import Stack
from providers.gcp.ownership import name
from providers.material import public_key_sha256, user_data_sha256

NETWORK = "network.main"

KINDS: dict[str, KindSpec] = {k.kind: k for k in (
    KindSpec("network", replace_fields=frozenset({"name", "auto_subnetworks"}), label="VPC network"),
    KindSpec("subnetwork", replace_fields=frozenset({"name", "network", "region", "cidr"}),
             exclusive_fields=frozenset({"cidr"}), label="subnetwork"),
    KindSpec("firewall", replace_fields=frozenset({
        "name", "network", "allowed", "source_ranges", "source_tags", "target_tags"}),
        create_before_destroy=True, label="firewall rule"),
    KindSpec("instance_template", replace_fields=frozenset({
        "name", "network", "machine_type", "image", "disk_gb", "ssh_user", "ssh_key_sha256",
        "user_data_sha256"}), create_before_destroy=True, label="instance template"),
    KindSpec("instance", replace_fields=frozenset({
        "template", "template_version", "machine_type", "image", "subnet", "zone", "external_ip"}),
        set_fields=frozenset({"network_tags"}), create_before_destroy=True, label="GCE instance"),
)}

_API_ROOTS = ("https://www.googleapis.com/compute/v1/", "https://compute.googleapis.com/compute/v1/")


def network_of(stack: Stack) -> str:
    """The stack's network, or the project's default network for a stack without one."""
    return NETWORK if stack.network is not None else f"projects/{stack.provider.gcp.project}/global/networks/default"


def api_path(reference: str | None) -> str | None:
    """A resource reference (an image, a selfLink) as a ``projects/...`` path, whether written as a URL or a path."""
    if not reference:
        return reference
    for root in _API_ROOTS:
        if reference.startswith(root):
            return reference[len(root):]
    return reference


def _ports(ranges: list[tuple[int, int]]) -> list[str]:
    return [str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in sorted(set(ranges))]


def firewall_rules(stack: Stack, group: str) -> list[tuple[str, dict[str, Any]]]:
    """(digest, attrs) of each distinct ingress rule of a security group, in digest order."""
    out: dict[str, dict[str, Any]] = {}
    sg = stack.security_groups[group]
    for rule in sg.ingress:
        allowed: dict[str, Any] = {"protocol": rule.protocol}
        if rule.ports:
            allowed["ports"] = _ports(rule.ports)
        content = {
            "allowed": [allowed],
            "source_ranges": sorted(set(rule.from_)),
            "source_tags": [rule.from_group] if rule.from_group else [],
            "target_tags": [group],
        }
        key = digest(content, 8)
        if key not in out:
            out[key] = {**content, "description": rule.description or sg.description}
    return sorted(out.items())


class GcpModel:
    """Desired GCE resources for a stack.

    ``public_keys`` maps each launch template to the OpenSSH public key line
    that goes into its ``ssh-keys`` metadata (read by the provider before
    planning, so this stays pure).
    """

    name = "gcp"
    kinds: Mapping[str, KindSpec] = KINDS

    def __init__(self, public_keys: Mapping[str, str]) -> None:
        self.public_keys = dict(public_keys)

    def infrastructure(self, stack: Stack) -> list[Resource]:
        out: list[Resource] = []
        net = stack.network
        network = network_of(stack)
        net_deps = (NETWORK,) if net is not None else ()
        if net is not None:
            out.append(Resource(NETWORK, "network", {"name": name(stack.stack, "net"), "auto_subnetworks": False}))
            for sname, sn in net.subnets.items():
                out.append(Resource(f"subnetwork.{sname}", "subnetwork", {
                    "name": name(stack.stack, sname), "network": NETWORK,
                    "region": stack.provider.gcp.region, "cidr": sn.cidr,
                }, deps=net_deps))
        for sgname in stack.security_groups:
            for key, rule in firewall_rules(stack, sgname):
                out.append(Resource(f"firewall.{sgname}.{key}", "firewall", {
                    "name": name(stack.stack, sgname, key), "network": network, **rule,
                }, deps=net_deps))
        for tname in stack.launch_templates:
            out.append(Resource(f"instance_template.{tname}", "instance_template",
                                self.template_attrs(stack, tname), deps=net_deps))
        return out

    def template_attrs(self, stack: Stack, template: str) -> dict[str, Any]:
        tpl = stack.launch_templates[template]
        content = {
            "network": network_of(stack),
            "machine_type": tpl.machine_type,
            "image": api_path(tpl.image),
            "disk_gb": tpl.disk_gb,
            "ssh_user": tpl.ssh.user,
            "ssh_key_sha256": public_key_sha256(self.public_keys[template]),
            "user_data_sha256": user_data_sha256(tpl.user_data),
        }
        return {"name": name(stack.stack, template, digest(content, 8)), **content}

    def instance(self, stack: Stack, group: str, index: int) -> Resource:
        g = stack.groups[group]
        zones = stack.provider.gcp.all_zones
        subnet_name = g.subnets[index % len(g.subnets)]
        subnet = f"subnetwork.{subnet_name}"
        template = f"instance_template.{g.template}"
        tpl = self.template_attrs(stack, g.template)
        attrs = {
            "template": template,
            "template_version": digest(tpl),
            "machine_type": tpl["machine_type"],
            "image": tpl["image"],
            "subnet": subnet,
            "zone": zones[index % len(zones)],
            "external_ip": bool(stack.network and stack.network.subnets[subnet_name].public),
            "network_tags": sorted(set(g.security_groups)),
            "state": "running",
        }
        return Resource(f"group.{group}[{index}]", "instance", attrs, deps=(template, subnet))


def instance_name(stack: str, address: str, attrs: Mapping[str, Any]) -> str:
    """``STACK-GROUP-INDEX-DIGEST``: the digest of what forces replacement lets a
    create-before-destroy replacement exist beside the instance it replaces."""
    group, _, rest = address.removeprefix("group.").partition("[")
    fixed = {k: attrs.get(k) for k in sorted(KINDS["instance"].replace_fields)}
    return name(stack, group, rest.rstrip("]"), digest(fixed, 6))
