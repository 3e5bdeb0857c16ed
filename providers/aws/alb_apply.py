"""One ALB step at a time: load balancers, target groups, target registrations,
listeners and rules, each tagged ``iacorch:stack`` / ``iacorch:address``.

Steps are idempotent: a create that finds its name, port or priority already
taken by this stack's own resource (an apply that stopped half-way) adopts it
and brings it to the plan; one that finds someone else's refuses. Target
registration compares with what is registered now, so rerunning converges.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from iacorch.errors import ProviderError
from iacorch.plan import Change
from iacorch.provider import IdMap, Step
from providers.aws.alb_model import parse_target
from providers.aws.session import AwsSession, error_code, tags, translate

WAIT_TIMEOUT = 600.0
IN_USE_TIMEOUT = 120.0  # a target group stays "in use" briefly after its listener or rule went


class AlbSteps:
    def __init__(self, session: AwsSession, stack: str) -> None:
        self.s = session
        self.stack = stack
        self.elb = session.client("elbv2")

    def run(self, step: Step, ids: IdMap) -> str | None:
        handler: Callable[[Change, IdMap], str | None] = getattr(self, f"{step.op}_{step.change.kind}")
        with translate(step.change.address):
            return handler(step.change, ids)

    def _tags(self, c: Change) -> list[dict[str, str]]:
        return tags(self.stack, c.address)

    def _ours(self, arn: str, address: str) -> bool:
        found = self.elb.describe_tags(ResourceArns=[arn])["TagDescriptions"]
        t = {x["Key"]: x["Value"] for d in found for x in d.get("Tags", [])}
        return t.get("iacorch:stack") == self.stack and t.get("iacorch:address") == address

    def _taken(self, what: str, c: Change) -> ProviderError:
        return ProviderError(f"{what} is already taken by something this stack does not own", where=c.address,
                             hint="remove or rename that resource, or rename the load balancer or service")

    # -- the load balancer ---------------------------------------------------------------------
    def create_alb(self, c: Change, ids: IdMap) -> str:
        a = c.after
        args: dict[str, Any] = {"Name": a["name"], "Subnets": [ids[s] for s in a["subnets"]],
                                "Scheme": a["scheme"], "Type": "application", "IpAddressType": "ipv4",
                                "Tags": self._tags(c)}
        if a["security_groups"]:
            args["SecurityGroups"] = [ids[g] for g in a["security_groups"]]
        arn = self.elb.create_load_balancer(**args)["LoadBalancers"][0]["LoadBalancerArn"]
        self.elb.get_waiter("load_balancer_available").wait(LoadBalancerArns=[arn],
                                                            WaiterConfig=self.s.waiter_config(WAIT_TIMEOUT))
        return arn

    def update_alb(self, c: Change, ids: IdMap) -> None:
        changed = {f.name for f in c.fields}
        if "subnets" in changed:
            self.elb.set_subnets(LoadBalancerArn=c.id, Subnets=[ids[s] for s in c.after["subnets"]])
        if "security_groups" in changed:
            self.elb.set_security_groups(LoadBalancerArn=c.id,
                                         SecurityGroups=[ids[g] for g in c.after["security_groups"]])

    def delete_alb(self, c: Change, ids: IdMap) -> None:
        # its listeners and rules go with it
        if self._gone(lambda: self.elb.delete_load_balancer(LoadBalancerArn=c.id)):
            return
        self.elb.get_waiter("load_balancers_deleted").wait(LoadBalancerArns=[c.id],
                                                           WaiterConfig=self.s.waiter_config(WAIT_TIMEOUT))

    # -- target groups -------------------------------------------------------------------------
    def create_alb_target_group(self, c: Change, ids: IdMap) -> str:
        a = c.after
        try:
            arn = self.elb.create_target_group(
                Name=a["name"], Protocol=a["protocol"], Port=a["port"], VpcId=ids[a["vpc"]],
                TargetType="instance", HealthCheckEnabled=True, HealthCheckProtocol="HTTP",
                **_health_args(a["health"]), Tags=self._tags(c))["TargetGroups"][0]["TargetGroupArn"]
        except Exception as exc:
            if error_code(exc) != "DuplicateTargetGroupName":
                raise
            arn = self.elb.describe_target_groups(Names=[a["name"]])["TargetGroups"][0]["TargetGroupArn"]
            if not self._ours(arn, c.address):
                raise self._taken(f"the target group name {a['name']}", c) from None
            self.elb.modify_target_group(TargetGroupArn=arn, **_health_args(a["health"]))
        self._settings(arn, a["settings"])
        return arn

    def update_alb_target_group(self, c: Change, ids: IdMap) -> None:
        changed = {f.name for f in c.fields}
        if "health" in changed:
            self.elb.modify_target_group(TargetGroupArn=c.id, **_health_args(c.after["health"]))
        if "settings" in changed:
            self._settings(c.id, c.after["settings"])

    def _settings(self, arn: str, settings: dict[str, Any]) -> None:
        attributes = {
            "deregistration_delay.timeout_seconds": str(settings["deregistration_delay"]),
            "load_balancing.algorithm.type": settings["algorithm"],
            "stickiness.enabled": "true" if settings["sticky"] else "false",
            "stickiness.type": "lb_cookie",
        }
        self.elb.modify_target_group_attributes(
            TargetGroupArn=arn, Attributes=[{"Key": k, "Value": v} for k, v in attributes.items()])

    def delete_alb_target_group(self, c: Change, ids: IdMap) -> None:
        deadline = time.monotonic() + IN_USE_TIMEOUT
        while True:
            try:
                self._gone(lambda: self.elb.delete_target_group(TargetGroupArn=c.id))
                return
            except Exception as exc:
                if error_code(exc) != "ResourceInUse" or time.monotonic() >= deadline:
                    raise
                time.sleep(2)

    # -- targets: one registration per (target group, instance); its id is "TG-ARN|INSTANCE-ID" ----
    def create_alb_targets(self, c: Change, ids: IdMap) -> str:
        arn, instance = ids[c.after["target_group"]], ids[c.after["instance"]]
        self._sync_targets(arn, {instance}, c.after["targets"], ids)
        return f"{arn}|{instance}"

    def update_alb_targets(self, c: Change, ids: IdMap) -> None:
        # the instance may be a new one (replaced): the old one's targets go, drained
        arn, instance = ids[c.after["target_group"]], ids[c.after["instance"]]
        self._sync_targets(arn, {instance, c.id.split("|", 1)[1]}, c.after["targets"], ids)

    def delete_alb_targets(self, c: Change, ids: IdMap) -> None:
        arn, instance = c.id.split("|", 1)
        self._gone(lambda: self._sync_targets(arn, {instance}, [], ids))

    def _sync_targets(self, arn: str, instances: set[str], targets: list[str], ids: IdMap) -> None:
        """Make what is registered on ``instances`` exactly ``targets``."""
        want = {(ids[instance], port) for instance, port in map(parse_target, targets)}
        found = self.elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        have = {(t["Target"]["Id"], int(t["Target"]["Port"])) for t in found if t["Target"]["Id"] in instances
                and (t.get("TargetHealth") or {}).get("State") != "draining"}
        if want - have:
            self.elb.register_targets(TargetGroupArn=arn, Targets=_targets(want - have))
        if have - want:
            # wait out the drain (the deregistration delay), so an instance deleted next has no traffic
            self.elb.deregister_targets(TargetGroupArn=arn, Targets=_targets(have - want))
            self.elb.get_waiter("target_deregistered").wait(
                TargetGroupArn=arn, Targets=_targets(have - want),
                WaiterConfig=self.s.waiter_config(WAIT_TIMEOUT))

    # -- listeners -----------------------------------------------------------------------------
    def _listener_args(self, c: Change, ids: IdMap) -> dict[str, Any]:
        a = c.after
        args: dict[str, Any] = {"Protocol": a["protocol"], "Port": a["port"],
                                "DefaultActions": _actions(a["default_action"], ids)}
        if a["protocol"] == "HTTPS":
            args["Certificates"] = [{"CertificateArn": a["certificate"]}]
        return args

    def create_alb_listener(self, c: Change, ids: IdMap) -> str:
        lb = ids[c.after["alb"]]
        try:
            return self.elb.create_listener(LoadBalancerArn=lb, Tags=self._tags(c),
                                            **self._listener_args(c, ids))["Listeners"][0]["ListenerArn"]
        except Exception as exc:
            if error_code(exc) != "DuplicateListener":
                raise
        found = [x["ListenerArn"] for x in self.elb.describe_listeners(LoadBalancerArn=lb)["Listeners"]
                 if x["Port"] == c.after["port"]]
        if not found or not self._ours(found[0], c.address):
            raise self._taken(f"port {c.after['port']} of the load balancer", c)
        self.elb.modify_listener(ListenerArn=found[0], **self._listener_args(c, ids))
        return found[0]

    def update_alb_listener(self, c: Change, ids: IdMap) -> None:
        self.elb.modify_listener(ListenerArn=c.id, **self._listener_args(c, ids))

    def delete_alb_listener(self, c: Change, ids: IdMap) -> None:
        self._gone(lambda: self.elb.delete_listener(ListenerArn=c.id))

    # -- rules ---------------------------------------------------------------------------------
    def create_alb_rule(self, c: Change, ids: IdMap) -> str:
        a = c.after
        listener = ids[a["listener"]]
        try:
            return self.elb.create_rule(ListenerArn=listener, Priority=a["priority"], Tags=self._tags(c),
                                        Conditions=_conditions(a["conditions"]),
                                        Actions=_actions(a["action"], ids))["Rules"][0]["RuleArn"]
        except Exception as exc:
            if error_code(exc) != "PriorityInUse":
                raise
        found = [r["RuleArn"] for r in self.elb.describe_rules(ListenerArn=listener)["Rules"]
                 if r["Priority"] == str(a["priority"])]
        if not found or not self._ours(found[0], c.address):
            raise self._taken(f"priority {a['priority']} of the listener", c)
        self.elb.modify_rule(RuleArn=found[0], Conditions=_conditions(a["conditions"]),
                             Actions=_actions(a["action"], ids))
        return found[0]

    def update_alb_rule(self, c: Change, ids: IdMap) -> None:
        self.elb.modify_rule(RuleArn=c.id, Conditions=_conditions(c.after["conditions"]),
                             Actions=_actions(c.after["action"], ids))

    def delete_alb_rule(self, c: Change, ids: IdMap) -> None:
        self._gone(lambda: self.elb.delete_rule(RuleArn=c.id))

    # -- shared --------------------------------------------------------------------------------
    @staticmethod
    def _gone(call: Callable[[], Any]) -> bool:
        """Run a delete; True when what it deletes (or its parent) was already gone."""
        try:
            call()
            return False
        except Exception as exc:
            if error_code(exc) in ("LoadBalancerNotFound", "TargetGroupNotFound", "ListenerNotFound",
                                   "RuleNotFound"):
                return True
            raise


def _health_args(h: dict[str, Any]) -> dict[str, Any]:
    return {"HealthCheckPath": h["path"], "HealthCheckPort": h["port"], "Matcher": {"HttpCode": h["matcher"]},
            "HealthCheckIntervalSeconds": h["interval"], "HealthCheckTimeoutSeconds": h["timeout"],
            "HealthyThresholdCount": h["healthy"], "UnhealthyThresholdCount": h["unhealthy"]}


def _targets(targets: set[tuple[str, int]]) -> list[dict[str, Any]]:
    return [{"Id": i, "Port": p} for i, p in sorted(targets)]


def _actions(action: dict[str, Any], ids: IdMap) -> list[dict[str, Any]]:
    kind = action["type"]
    if kind == "forward":
        return [{"Type": "forward", "TargetGroupArn": ids[action["target_group"]]}]
    if kind == "redirect":
        return [{"Type": "redirect", "RedirectConfig": {
            "Protocol": action["protocol"], "Port": str(action["port"]), "StatusCode": action["status"]}}]
    if kind == "fixed-response":
        return [{"Type": "fixed-response", "FixedResponseConfig": {
            "StatusCode": str(action["status"]), "ContentType": "text/plain",
            "MessageBody": "no route matches"}}]
    raise ProviderError(f"unknown ALB action {kind!r}")


def _conditions(conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    config = {"host-header": "HostHeaderConfig", "path-pattern": "PathPatternConfig"}
    return [{"Field": c["field"], config[c["field"]]: {"Values": list(c["values"])}} for c in conditions]
