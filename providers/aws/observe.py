"""One pass of batched, paginated, tag-filtered Describe calls per resource type.

Never one call per resource: the number of requests grows with pages, not
with resources. Each result is read back into the same shape the model
produces, with cloud ids turned back into addresses.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from iacorch.resources import Observed, ObservedResource
from providers.aws.session import AwsSession, tag_map

LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped"]


def observe(session: AwsSession, stack: str) -> Observed:
    owned = [{"Name": "tag:iacorch:stack", "Values": [stack]}]
    found: dict[str, ObservedResource] = {}
    by_id: dict[str, str] = {}

    def take(kind: str, ident: str, item: dict[str, Any]) -> str | None:
        address = tag_map(item).get("iacorch:address")
        if address:
            by_id[ident] = address
        return address

    # the largest page each API allows, so requests grow with pages, not resources
    vpcs = session.paginate("ec2", "describe_vpcs", "Vpcs", 1000, Filters=owned)
    subnets = session.paginate("ec2", "describe_subnets", "Subnets", 1000, Filters=owned)
    igws = session.paginate("ec2", "describe_internet_gateways", "InternetGateways", 1000, Filters=owned)
    tables = session.paginate("ec2", "describe_route_tables", "RouteTables", 100, Filters=owned)
    groups = session.paginate("ec2", "describe_security_groups", "SecurityGroups", 1000, Filters=owned)
    keys = session.paginate("ec2", "describe_key_pairs", "KeyPairs", Filters=owned)
    templates = session.paginate("ec2", "describe_launch_templates", "LaunchTemplates", 200, Filters=owned)
    versions = session.paginate("ec2", "describe_launch_template_versions", "LaunchTemplateVersions", 200,
                                Versions=["$Latest"]) if templates else []
    reservations = session.paginate("ec2", "describe_instances", "Reservations", 1000, Filters=owned + [
        {"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES}])

    for v in vpcs:
        take("vpc", v["VpcId"], v)
    for s in subnets:
        take("subnet", s["SubnetId"], s)
    for g in igws:
        take("internet_gateway", g["InternetGatewayId"], g)
    for g in groups:
        take("security_group", g["GroupId"], g)
    key_names: dict[str, str] = {}
    for k in keys:
        if (addr := take("key_pair", k["KeyPairId"], k)):
            key_names[k["KeyName"]] = addr
    for t in templates:
        take("launch_template", t["LaunchTemplateId"], t)

    def ref(ident: str | None) -> str | None:
        return by_id.get(ident, ident) if ident else None

    for v in vpcs:
        _add(found, v, "vpc", v["VpcId"], {"cidr": v["CidrBlock"]})
    for s in subnets:
        _add(found, s, "subnet", s["SubnetId"], {
            "vpc": ref(s["VpcId"]), "cidr": s["CidrBlock"], "zone": s.get("AvailabilityZone"),
            "public": bool(s.get("MapPublicIpOnLaunch")),
        }, deps=[ref(s["VpcId"])])
    for g in igws:
        attached = [a["VpcId"] for a in g.get("Attachments", []) if a.get("State") in (None, "available", "attached")]
        vpc = ref(attached[0]) if attached else None
        _add(found, g, "internet_gateway", g["InternetGatewayId"], {"vpc": vpc}, deps=[vpc])
    for t in tables:
        routes = [{"destination": r["DestinationCidrBlock"], "gateway": ref(r["GatewayId"])}
                  for r in t.get("Routes", [])
                  if r.get("GatewayId", "local") != "local" and "DestinationCidrBlock" in r]
        subnets_of = sorted(ref(a["SubnetId"]) for a in t.get("Associations", []) if a.get("SubnetId"))
        _add(found, t, "route_table", t["RouteTableId"], {
            "vpc": ref(t["VpcId"]), "routes": routes, "subnets": subnets_of,
        }, deps=[ref(t["VpcId"]), *[r["gateway"] for r in routes], *subnets_of])
    for g in groups:
        address = _add(found, g, "security_group", g["GroupId"], {
            "vpc": ref(g.get("VpcId")), "name": g["GroupName"], "description": g.get("Description"),
        }, deps=[ref(g.get("VpcId"))])
        if address:
            rules = ingress_rules(g, ref)
            refs = sorted({r["source"] for r in rules if r["source"].startswith("security_group.")})
            found[f"{address}.ingress"] = ObservedResource(
                f"{address}.ingress", "sg_ingress", g["GroupId"], {"group": address, "rules": rules},
                deps=tuple(dict.fromkeys([address, *refs])))
    for k in keys:
        _add(found, k, "key_pair", k["KeyPairId"], {
            "name": k["KeyName"], "public_key_sha256": tag_map(k).get("iacorch:public-key-sha256"),
        })
    latest = {v["LaunchTemplateId"]: v for v in versions}
    for t in templates:
        data = latest.get(t["LaunchTemplateId"], {}).get("LaunchTemplateData", {})
        key = key_names.get(data.get("KeyName", ""), data.get("KeyName"))
        disks = data.get("BlockDeviceMappings") or []
        _add(found, t, "launch_template", t["LaunchTemplateId"], {
            "name": t["LaunchTemplateName"], "image": data.get("ImageId"),
            "instance_type": data.get("InstanceType"), "key_pair": key,
            "disk_gb": disks[0].get("Ebs", {}).get("VolumeSize") if disks else None,
            "user_data_sha256": _user_data_sha(data.get("UserData")),
        }, deps=[key])
    for r in reservations:
        for i in r.get("Instances", []):
            t = tag_map(i)
            template = ref(t.get("aws:ec2launchtemplate:id"))
            sgs = sorted(ref(g["GroupId"]) for g in i.get("SecurityGroups", []))
            key = key_names.get(i.get("KeyName", ""), i.get("KeyName"))
            state = i["State"]["Name"]
            _add(found, i, "instance", i["InstanceId"], {
                "template": template, "template_version": t.get("iacorch:template-version"),
                "image": i.get("ImageId"), "instance_type": i.get("InstanceType"),
                "subnet": ref(i.get("SubnetId")), "security_groups": sgs, "key_pair": key,
                "state": "running" if state in ("pending", "running") else "stopped",
            }, deps=[template, ref(i.get("SubnetId")), *sgs, key])
            found_addr = t.get("iacorch:address")
            if found_addr in found:
                found[found_addr] = _with_network(found[found_addr], i)
    return Observed(stack=stack, provider="aws", resources=found)


def _add(found: dict[str, ObservedResource], item: dict[str, Any], kind: str, ident: str,
         attrs: dict[str, Any], deps: list[str | None] = ()) -> str | None:
    address = tag_map(item).get("iacorch:address")
    if not address:
        return None
    found[address] = ObservedResource(address, kind, ident, attrs,
                                      deps=tuple(dict.fromkeys(d for d in deps if d and "." in d)))
    return address


def _with_network(res: ObservedResource, instance: dict[str, Any]) -> ObservedResource:
    """Keep the instance's addresses next to it (not diffed: the model never sets them)."""
    attrs = dict(res.attrs)
    attrs["private_ip"] = instance.get("PrivateIpAddress")
    attrs["public_ip"] = instance.get("PublicIpAddress")
    return ObservedResource(res.address, res.kind, res.id, attrs, res.deps)


def ingress_rules(group: dict[str, Any], ref) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for perm in group.get("IpPermissions", []):
        proto = perm.get("IpProtocol", "-1")
        proto = "all" if proto == "-1" else proto
        lo, hi = perm.get("FromPort"), perm.get("ToPort")
        if proto == "all" or lo in (None, -1):
            ports = "all"
        else:
            ports = str(lo) if lo == hi else f"{lo}-{hi}"
        sources = [r["CidrIp"] for r in perm.get("IpRanges", [])]
        sources += [ref(p["GroupId"]) for p in perm.get("UserIdGroupPairs", [])]
        for src in sources:
            entry = {"protocol": proto, "ports": ports, "source": src}
            out[f"{proto}|{ports}|{src}"] = entry
    return [out[k] for k in sorted(out)]


def _user_data_sha(b64: str | None) -> str | None:
    if not b64:
        return None
    try:
        raw = base64.b64decode(b64)
    except ValueError:
        raw = b64.encode()
    return hashlib.sha256(raw).hexdigest()
