"""The pure half of the AWS provider: stack -> desired AWS resources.

No boto3 here. References between resources are addresses; the planner diffs
these against what ``observe`` reads back in the same shape.
"""

from __future__ import annotations

from typing import Any, Mapping

from iacorch.resources import KindSpec, Resource, digest
from iacorch.stack.model import Stack
from providers.material import public_key_sha256, user_data_sha256

__all__ = ["KINDS", "AwsModel", "public_key_sha256", "rule_entries", "user_data_sha256"]

VPC = "vpc.main"
IGW = "internet_gateway.main"
PUBLIC_ROUTES = "route_table.public"

KINDS: dict[str, KindSpec] = {k.kind: k for k in (
    KindSpec("vpc", replace_fields=frozenset({"cidr"}), label="VPC"),
    KindSpec("internet_gateway", label="internet gateway"),
    KindSpec("route_table", replace_fields=frozenset({"vpc"}), set_fields=frozenset({"routes", "subnets"}),
             label="route table"),
    KindSpec("subnet", replace_fields=frozenset({"vpc", "cidr", "zone"}), exclusive_fields=frozenset({"cidr"}),
             label="subnet"),
    # names carry a digest of the description, so a replacement can come up beside the old group
    KindSpec("security_group", replace_fields=frozenset({"vpc", "name", "description"}),
             create_before_destroy=True, label="security group"),
    KindSpec("sg_ingress", replace_fields=frozenset({"group"}), set_fields=frozenset({"rules"}),
             create_before_destroy=True, label="security group rules"),
    KindSpec("key_pair", replace_fields=frozenset({"name", "public_key_sha256"}), label="key pair"),
    KindSpec("launch_template", replace_fields=frozenset({"name"}), label="launch template"),
    KindSpec("instance", replace_fields=frozenset({
        "template", "template_version", "image", "instance_type", "subnet", "key_pair"}),
        create_before_destroy=True, label="EC2 instance"),
)}


def rule_entries(stack: Stack, group: str) -> list[dict[str, Any]]:
    """One entry per (protocol, port range, source), the shape AWS stores."""
    out: dict[str, dict[str, Any]] = {}
    for rule in stack.security_groups[group].ingress:
        ranges = rule.ports or [None]
        sources = list(rule.from_) or [f"security_group.{rule.from_group}"]
        for pr in ranges:
            ports = "all" if pr is None else (str(pr[0]) if pr[0] == pr[1] else f"{pr[0]}-{pr[1]}")
            for src in sources:
                entry = {"protocol": rule.protocol, "ports": ports, "source": src}
                out[digest(entry)] = entry
    return [out[k] for k in sorted(out)]


class AwsModel:
    """Desired AWS resources for a stack.

    ``public_keys`` maps each launch template to the OpenSSH public key line
    it imports (read by the provider before planning, so this stays pure).
    ``user_data`` maps templates to their rendered user data.
    """

    name = "aws"
    kinds: Mapping[str, KindSpec] = KINDS

    def __init__(self, public_keys: Mapping[str, str]) -> None:
        self.public_keys = dict(public_keys)

    def infrastructure(self, stack: Stack) -> list[Resource]:
        out: list[Resource] = []
        net = stack.network
        if net is not None:
            out.append(Resource(VPC, "vpc", {"cidr": net.vpc.cidr}))
            public = sorted(f"subnet.{n}" for n, s in net.subnets.items() if s.public)
            if public:
                out.append(Resource(IGW, "internet_gateway", {"vpc": VPC}, deps=(VPC,)))
                out.append(Resource(PUBLIC_ROUTES, "route_table", {
                    "vpc": VPC, "routes": [{"destination": "0.0.0.0/0", "gateway": IGW}], "subnets": public,
                }, deps=(VPC, IGW, *public)))
            for name, sn in net.subnets.items():
                attrs: dict[str, Any] = {"vpc": VPC, "cidr": sn.cidr, "public": sn.public}
                if sn.zone:
                    attrs["zone"] = sn.zone
                out.append(Resource(f"subnet.{name}", "subnet", attrs, deps=(VPC,)))
        for name, sg in stack.security_groups.items():
            addr = f"security_group.{name}"
            description = sg.description or f"iacorch {stack.stack} {name}"
            out.append(Resource(addr, "security_group", {
                "vpc": VPC, "name": f"{stack.stack}-{name}-{digest(description, 6)}", "description": description,
            }, deps=(VPC,)))
            rules = rule_entries(stack, name)
            refs = sorted({r["source"] for r in rules if r["source"].startswith("security_group.")})
            out.append(Resource(f"{addr}.ingress", "sg_ingress", {"group": addr, "rules": rules},
                                deps=tuple(dict.fromkeys([addr, *refs]))))
        for name in stack.launch_templates:
            out.append(Resource(f"key_pair.{name}", "key_pair", {
                "name": f"{stack.stack}-{name}",
                "public_key_sha256": public_key_sha256(self.public_keys[name]),
            }))
            out.append(Resource(f"launch_template.{name}", "launch_template", self._template_attrs(stack, name),
                                deps=(f"key_pair.{name}",)))
        return out

    def _template_attrs(self, stack: Stack, name: str) -> dict[str, Any]:
        tpl = stack.launch_templates[name]
        return {
            "name": f"{stack.stack}-{name}",
            "image": tpl.image,
            "instance_type": tpl.instance_type,
            "key_pair": f"key_pair.{name}",
            "disk_gb": tpl.disk_gb,
            "user_data_sha256": user_data_sha256(tpl.user_data),
        }

    def instance(self, stack: Stack, group: str, index: int) -> Resource:
        g = stack.groups[group]
        tpl = stack.launch_templates[g.template]
        subnet = f"subnet.{g.subnets[index % len(g.subnets)]}"
        sgs = sorted(f"security_group.{s}" for s in g.security_groups)
        template = f"launch_template.{g.template}"
        attrs = {
            "template": template,
            "template_version": digest(self._template_attrs(stack, g.template)),
            "image": tpl.image,
            "instance_type": tpl.instance_type,
            "subnet": subnet,
            "security_groups": sgs,
            "key_pair": f"key_pair.{g.template}",
            "state": "running",
        }
        return Resource(f"group.{group}[{index}]", "instance", attrs,
                        deps=(template, subnet, *sgs, f"key_pair.{g.template}"))
