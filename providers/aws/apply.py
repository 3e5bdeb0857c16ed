"""One step at a time: create, update or delete one AWS resource and wait for it.

Each step is idempotent where AWS allows it (RunInstances carries a client
token; rule changes compare with what is there now), so rerunning apply after
a failure converges.
"""

from __future__ import annotations

import base64
import time
from typing import Any, Callable

from iacorch.errors import ProviderError
from iacorch.plan import Change
from iacorch.provider import IdMap, Step
from iacorch.resources import digest
from providers.aws.session import AwsSession, error_code, tag_spec, translate
from providers.material import TemplateMaterial

WAIT_TIMEOUT = 600.0


class AwsSteps:
    def __init__(self, session: AwsSession, stack: str, inputs: "AwsInputs") -> None:
        self.s = session
        self.stack = stack
        self.inputs = inputs
        self.ec2 = session.client("ec2")

    def run(self, step: Step, ids: IdMap) -> str | None:
        handler: Callable[[Change, IdMap], str | None] = getattr(self, f"{step.op}_{step.change.kind}")
        with translate(step.change.address):
            return handler(step.change, ids)

    # -- vpc ---------------------------------------------------------------------------
    def create_vpc(self, c: Change, ids: IdMap) -> str:
        vpc = self.ec2.create_vpc(CidrBlock=c.after["cidr"],
                                  TagSpecifications=tag_spec("vpc", self.stack, c.address))["Vpc"]
        self.ec2.get_waiter("vpc_available").wait(VpcIds=[vpc["VpcId"]],
                                                  WaiterConfig=self.s.waiter_config(WAIT_TIMEOUT))
        return vpc["VpcId"]

    def delete_vpc(self, c: Change, ids: IdMap) -> None:
        self._retry_dependency(lambda: self.ec2.delete_vpc(VpcId=c.id))

    # -- subnet ------------------------------------------------------------------------
    def create_subnet(self, c: Change, ids: IdMap) -> str:
        args: dict[str, Any] = {"VpcId": ids[c.after["vpc"]], "CidrBlock": c.after["cidr"],
                                "TagSpecifications": tag_spec("subnet", self.stack, c.address)}
        if c.after.get("zone"):
            args["AvailabilityZone"] = c.after["zone"]
        subnet = self.ec2.create_subnet(**args)["Subnet"]
        if c.after.get("public"):
            self.ec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"], MapPublicIpOnLaunch={"Value": True})
        return subnet["SubnetId"]

    def update_subnet(self, c: Change, ids: IdMap) -> None:
        self.ec2.modify_subnet_attribute(SubnetId=c.id, MapPublicIpOnLaunch={"Value": bool(c.after["public"])})

    def delete_subnet(self, c: Change, ids: IdMap) -> None:
        if c.detach:
            tables = self.ec2.describe_route_tables(
                Filters=[{"Name": "association.subnet-id", "Values": [c.id]}])["RouteTables"]
            for table in tables:
                for assoc in table.get("Associations", []):
                    if assoc.get("SubnetId") == c.id:
                        self.ec2.disassociate_route_table(AssociationId=assoc["RouteTableAssociationId"])
        self._retry_dependency(lambda: self.ec2.delete_subnet(SubnetId=c.id))

    # -- internet gateway --------------------------------------------------------------
    def create_internet_gateway(self, c: Change, ids: IdMap) -> str:
        igw = self.ec2.create_internet_gateway(
            TagSpecifications=tag_spec("internet-gateway", self.stack, c.address))["InternetGateway"]
        self.ec2.attach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=ids[c.after["vpc"]])
        return igw["InternetGatewayId"]

    def update_internet_gateway(self, c: Change, ids: IdMap) -> None:
        self._detach_gateway(c.id)
        self.ec2.attach_internet_gateway(InternetGatewayId=c.id, VpcId=ids[c.after["vpc"]])

    def delete_internet_gateway(self, c: Change, ids: IdMap) -> None:
        self._detach_gateway(c.id)
        self._retry_dependency(lambda: self.ec2.delete_internet_gateway(InternetGatewayId=c.id))

    def _detach_gateway(self, igw_id: str) -> None:
        found = self.ec2.describe_internet_gateways(InternetGatewayIds=[igw_id])["InternetGateways"]
        for att in (found[0].get("Attachments", []) if found else []):
            self._retry_dependency(lambda: self.ec2.detach_internet_gateway(
                InternetGatewayId=igw_id, VpcId=att["VpcId"]))

    # -- route table -------------------------------------------------------------------
    def create_route_table(self, c: Change, ids: IdMap) -> str:
        rt = self.ec2.create_route_table(VpcId=ids[c.after["vpc"]],
                                         TagSpecifications=tag_spec("route-table", self.stack, c.address))
        rt_id = rt["RouteTable"]["RouteTableId"]
        self._sync_routes(rt_id, c, ids)
        return rt_id

    def update_route_table(self, c: Change, ids: IdMap) -> None:
        self._sync_routes(c.id, c, ids)

    def _sync_routes(self, rt_id: str, c: Change, ids: IdMap) -> None:
        current = self.ec2.describe_route_tables(RouteTableIds=[rt_id])["RouteTables"][0]
        have_routes = {r["DestinationCidrBlock"]: r.get("GatewayId") for r in current.get("Routes", [])
                       if r.get("GatewayId", "local") != "local" and "DestinationCidrBlock" in r}
        want_routes = {r["destination"]: ids[r["gateway"]] for r in c.after["routes"]}
        for dest, gw in want_routes.items():
            if dest not in have_routes:
                self.ec2.create_route(RouteTableId=rt_id, DestinationCidrBlock=dest, GatewayId=gw)
            elif have_routes[dest] != gw:
                self.ec2.replace_route(RouteTableId=rt_id, DestinationCidrBlock=dest, GatewayId=gw)
        for dest in have_routes.keys() - want_routes.keys():
            self.ec2.delete_route(RouteTableId=rt_id, DestinationCidrBlock=dest)
        have_assoc = {a["SubnetId"]: a["RouteTableAssociationId"] for a in current.get("Associations", [])
                      if a.get("SubnetId")}
        want_subnets = {ids[s] for s in c.after["subnets"]}
        for subnet in want_subnets - have_assoc.keys():
            self.ec2.associate_route_table(RouteTableId=rt_id, SubnetId=subnet)
        for subnet in have_assoc.keys() - want_subnets:
            self.ec2.disassociate_route_table(AssociationId=have_assoc[subnet])

    def delete_route_table(self, c: Change, ids: IdMap) -> None:
        current = self.ec2.describe_route_tables(RouteTableIds=[c.id])["RouteTables"]
        for assoc in (current[0].get("Associations", []) if current else []):
            if not assoc.get("Main"):
                self.ec2.disassociate_route_table(AssociationId=assoc["RouteTableAssociationId"])
        self._retry_dependency(lambda: self.ec2.delete_route_table(RouteTableId=c.id))

    # -- security groups ---------------------------------------------------------------
    def create_security_group(self, c: Change, ids: IdMap) -> str:
        return self.ec2.create_security_group(
            GroupName=c.after["name"], Description=c.after["description"], VpcId=ids[c.after["vpc"]],
            TagSpecifications=tag_spec("security-group", self.stack, c.address))["GroupId"]

    def delete_security_group(self, c: Change, ids: IdMap) -> None:
        self._retry_dependency(lambda: self.ec2.delete_security_group(GroupId=c.id))

    def create_sg_ingress(self, c: Change, ids: IdMap) -> str:
        group_id = ids[c.after["group"]]
        self._sync_rules(group_id, c.after["rules"], ids)
        return group_id

    def update_sg_ingress(self, c: Change, ids: IdMap) -> None:
        self._sync_rules(ids[c.after["group"]], c.after["rules"], ids)

    def delete_sg_ingress(self, c: Change, ids: IdMap) -> None:
        try:
            self._sync_rules(c.id, [], ids)
        except Exception as exc:
            if error_code(exc) != "InvalidGroup.NotFound":
                raise

    def _sync_rules(self, group_id: str, rules: list[dict[str, Any]], ids: IdMap) -> None:
        from providers.aws.observe import ingress_rules

        current = self.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
        by_id = {v: k for k, v in ids.snapshot().items() if k.startswith("security_group.")
                 and not k.endswith(".ingress")}
        have = {_rule_key(r): r for r in ingress_rules(current, lambda i: by_id.get(i, i))}
        want = {_rule_key(r): r for r in rules}
        add = [_permission(want[k], ids) for k in sorted(want.keys() - have.keys())]
        drop = [_permission(have[k], ids, raw_ids=True) for k in sorted(have.keys() - want.keys())]
        if add:
            self.ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=add)
        if drop:
            self.ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=drop)

    # -- key pairs and launch templates ------------------------------------------------
    def create_key_pair(self, c: Change, ids: IdMap) -> str:
        template = c.address.split(".", 1)[1]
        material = self.inputs.public_key(template, expect_sha=c.after["public_key_sha256"])
        kp = self.ec2.import_key_pair(
            KeyName=c.after["name"], PublicKeyMaterial=material.encode(),
            TagSpecifications=tag_spec("key-pair", self.stack, c.address,
                                       **{"iacorch:public-key-sha256": c.after["public_key_sha256"]}))
        return kp["KeyPairId"]

    def delete_key_pair(self, c: Change, ids: IdMap) -> None:
        # by name: moto ignores KeyPairId here, and names are unique per region anyway
        self.ec2.delete_key_pair(KeyName=c.before["name"])

    def _template_data(self, c: Change, ids: IdMap) -> dict[str, Any]:
        template = c.address.split(".", 1)[1]
        data: dict[str, Any] = {"ImageId": c.after["image"], "InstanceType": c.after["instance_type"],
                                "KeyName": self.inputs.key_name(template)}
        user_data = self.inputs.user_data(template, expect_sha=c.after.get("user_data_sha256"))
        if user_data:
            data["UserData"] = base64.b64encode(user_data.encode()).decode()
        if c.after.get("disk_gb"):
            data["BlockDeviceMappings"] = [{"DeviceName": "/dev/xvda",
                                            "Ebs": {"VolumeSize": c.after["disk_gb"], "VolumeType": "gp3"}}]
        return data

    def create_launch_template(self, c: Change, ids: IdMap) -> str:
        lt = self.ec2.create_launch_template(
            LaunchTemplateName=c.after["name"], LaunchTemplateData=self._template_data(c, ids),
            TagSpecifications=tag_spec("launch-template", self.stack, c.address))["LaunchTemplate"]
        return lt["LaunchTemplateId"]

    def update_launch_template(self, c: Change, ids: IdMap) -> None:
        # the full data every time: moto's SourceVersion does not merge the source's data
        version = self.ec2.create_launch_template_version(
            LaunchTemplateId=c.id, LaunchTemplateData=self._template_data(c, ids))["LaunchTemplateVersion"]
        self.ec2.modify_launch_template(LaunchTemplateId=c.id, DefaultVersion=str(version["VersionNumber"]))

    def delete_launch_template(self, c: Change, ids: IdMap) -> None:
        self.ec2.delete_launch_template(LaunchTemplateId=c.id)

    # -- instances ---------------------------------------------------------------------
    def create_instance(self, c: Change, ids: IdMap) -> str:
        group = c.address.split(".", 1)[1].split("[", 1)[0]
        extra = {"iacorch:group": group, "iacorch:template-version": c.after["template_version"]}
        result = self.ec2.run_instances(
            MinCount=1, MaxCount=1,
            LaunchTemplate={"LaunchTemplateId": ids[c.after["template"]], "Version": "$Latest"},
            SubnetId=ids[c.after["subnet"]],
            SecurityGroupIds=[ids[g] for g in c.after["security_groups"]],
            TagSpecifications=tag_spec("instance", self.stack, c.address, **extra),
            ClientToken=digest([self.stack, c.address, c.after, self.inputs.apply_id], 32))
        instance_id = result["Instances"][0]["InstanceId"]
        self.ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id],
                                                     WaiterConfig=self.s.waiter_config(WAIT_TIMEOUT))
        return instance_id

    def update_instance(self, c: Change, ids: IdMap) -> None:
        changed = {f.name for f in c.fields}
        if "security_groups" in changed:
            self.ec2.modify_instance_attribute(InstanceId=c.id,
                                               Groups=[ids[g] for g in c.after["security_groups"]])
        if "state" in changed and c.after["state"] == "running":
            self.ec2.start_instances(InstanceIds=[c.id])
            self.ec2.get_waiter("instance_running").wait(InstanceIds=[c.id],
                                                         WaiterConfig=self.s.waiter_config(WAIT_TIMEOUT))

    def delete_instance(self, c: Change, ids: IdMap) -> None:
        try:
            self.ec2.terminate_instances(InstanceIds=[c.id])
        except Exception as exc:
            if error_code(exc) == "InvalidInstanceID.NotFound":
                return
            raise
        self.ec2.get_waiter("instance_terminated").wait(InstanceIds=[c.id],
                                                        WaiterConfig=self.s.waiter_config(WAIT_TIMEOUT))

    # -- shared ------------------------------------------------------------------------
    def _retry_dependency(self, call: Callable[[], Any], timeout: float = 120.0) -> None:
        """Deletes right after their dependents went can race AWS's own cleanup: retry a while."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                call()
                return
            except Exception as exc:
                code = error_code(exc)
                if code.endswith(".NotFound") or code == "InvalidGatewayID.NotFound":
                    return
                if code == "DependencyViolation" and time.monotonic() < deadline:
                    time.sleep(2)
                    continue
                raise


def _rule_key(rule: dict[str, Any]) -> str:
    return f"{rule['protocol']}|{rule['ports']}|{rule['source']}"


def _permission(rule: dict[str, Any], ids: IdMap, raw_ids: bool = False) -> dict[str, Any]:
    proto = "-1" if rule["protocol"] == "all" else rule["protocol"]
    perm: dict[str, Any] = {"IpProtocol": proto}
    if rule["ports"] != "all":
        lo, _, hi = rule["ports"].partition("-")
        perm["FromPort"], perm["ToPort"] = int(lo), int(hi or lo)
    elif proto in ("tcp", "udp"):
        perm["FromPort"], perm["ToPort"] = 0, 65535
    src = rule["source"]
    if src.startswith("security_group."):
        perm["UserIdGroupPairs"] = [{"GroupId": ids[src]}]
    elif src.startswith("sg-"):
        perm["UserIdGroupPairs"] = [{"GroupId": src}]
    else:
        perm["IpRanges"] = [{"CidrIp": src}]
    return perm


class AwsInputs(TemplateMaterial):
    """What steps read from the user's machine (see ``providers.material``), and key pair names."""

    def __init__(self, stack_name: str, public_keys: dict[str, str], user_data: dict[str, str | None],
                 apply_id: str = "") -> None:
        super().__init__(public_keys, user_data)
        self.stack_name = stack_name
        self.apply_id = apply_id

    def key_name(self, template: str) -> str:
        return f"{self.stack_name}-{template}"
