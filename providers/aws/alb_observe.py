"""What the stack's ALBs look like now, read back in the shape ``alb_model`` produces.

ELBv2 has no tag filter on its Describe calls, so ownership is read with
describe_tags, 20 ARNs per request. The requests:

    describe_load_balancers, describe_target_groups    one each (pages of 400)
    describe_tags                                      one per 20 ALBs + target groups, then one per
                                                       20 listeners + rules of our ALBs
    describe_listeners                                 one per ALB of ours
    describe_rules                                     one per listener of ours
    describe_target_group_attributes, describe_target_health
                                                       one each per target group of ours

Never one per target. Target health goes to ``runtime`` by target group (status
reads it; a saved plan does not go stale because a check flipped).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Iterable

import botocore.exceptions

from iacorch.resources import Observed, ObservedResource
from providers.aws.alb_model import target, targets_address
from providers.aws.session import AwsSession, error_code, tag_map, translate

TAG_BATCH = 20  # describe_tags takes at most 20 ARNs
PAGE = 400  # the largest page describe_load_balancers and describe_target_groups allow
GONE = {"LoadBalancerNotFound", "ListenerNotFound", "TargetGroupNotFound", "RuleNotFound"}


def observe_albs(session: AwsSession, stack: str, observed: Observed) -> Observed:
    """``observed`` (the EC2 side, whose ids name subnets, groups and instances) plus the ALBs."""
    known = {r.id: a for a, r in observed.resources.items()
             if r.kind in ("vpc", "subnet", "security_group", "instance")}
    reader = _Reader(session)
    lbs = session.paginate("elbv2", "describe_load_balancers", "LoadBalancers", PAGE)
    tgs = session.paginate("elbv2", "describe_target_groups", "TargetGroups", PAGE)
    tags = reader.tags([x["LoadBalancerArn"] for x in lbs] + [x["TargetGroupArn"] for x in tgs])

    def ours(arn: str) -> str | None:
        t = tags.get(arn, {})
        return t.get("iacorch:address") if t.get("iacorch:stack") == stack else None

    lbs = [x for x in lbs if ours(x["LoadBalancerArn"])]
    tgs = [x for x in tgs if ours(x["TargetGroupArn"])]
    known.update({x["LoadBalancerArn"]: ours(x["LoadBalancerArn"]) for x in lbs})
    known.update({x["TargetGroupArn"]: ours(x["TargetGroupArn"]) for x in tgs})

    def ref(ident: str | None) -> str | None:
        return known.get(ident, ident) if ident else None

    found: dict[str, ObservedResource] = {}
    for x in lbs:
        subnets = sorted(ref(z["SubnetId"]) for z in x.get("AvailabilityZones", []) if z.get("SubnetId"))
        sgs = sorted(ref(g) for g in x.get("SecurityGroups", []))
        _add(found, ours(x["LoadBalancerArn"]), "alb", x["LoadBalancerArn"], {
            "name": x["LoadBalancerName"], "scheme": x.get("Scheme"), "vpc": ref(x.get("VpcId")),
            "subnets": subnets, "security_groups": sgs, "dns_name": x.get("DNSName"),
        }, [ref(x.get("VpcId")), *subnets, *sgs])
    health_by_group: dict[str, list[dict[str, Any]]] = {}
    for x in tgs:
        address, arn = ours(x["TargetGroupArn"]), x["TargetGroupArn"]
        settings = reader.target_group_attributes(arn)
        _add(found, address, "alb_target_group", arn, {
            "name": x["TargetGroupName"], "vpc": ref(x.get("VpcId")), "protocol": x.get("Protocol"),
            "port": x.get("Port"), "health": _health(x), "settings": settings,
        }, [ref(x.get("VpcId")), *sorted({ref(lb) for lb in x.get("LoadBalancerArns", [])})])  # deleted first
        health = [_target_health(t, ref) for t in reader.target_health(arn)]
        health_by_group[address] = health
        # one registration per instance; a draining target is on its way out, no longer registered
        by_instance: dict[tuple[str, str], list[str]] = {}
        for h in health:
            if h["state"] != "draining":
                by_instance.setdefault((h["instance"], h["id"]), []).append(h["target"])
        for (instance, ident), registered in sorted(by_instance.items()):
            _add(found, targets_address(address, instance), "alb_targets", f"{arn}|{ident}", {
                "target_group": address, "instance": instance, "targets": sorted(registered),
            }, [address, instance])
    listeners = [lst for x in lbs for lst in reader.listeners(x["LoadBalancerArn"])]
    rules = [r for lst in listeners for r in reader.rules(lst["ListenerArn"]) if not r.get("IsDefault")]
    more = reader.tags([x["ListenerArn"] for x in listeners] + [r["RuleArn"] for r in rules])
    tags.update(more)
    known.update({x["ListenerArn"]: ours(x["ListenerArn"]) for x in listeners if ours(x["ListenerArn"])})
    for x in listeners:
        action = action_of(x.get("DefaultActions", []), ref)
        attrs: dict[str, Any] = {"alb": ref(x["LoadBalancerArn"]), "protocol": x.get("Protocol"),
                                 "port": x.get("Port"), "default_action": action}
        certs = x.get("Certificates") or []
        if x.get("Protocol") == "HTTPS":
            attrs["certificate"] = certs[0]["CertificateArn"] if certs else None
        _add(found, ours(x["ListenerArn"]), "alb_listener", x["ListenerArn"], attrs,
             [attrs["alb"], action.get("target_group")])
    for r in rules:
        action = action_of(r.get("Actions", []), ref)
        listener = ref(r["RuleArn"].replace(":listener-rule/", ":listener/").rsplit("/", 1)[0])
        _add(found, ours(r["RuleArn"]), "alb_rule", r["RuleArn"], {
            "listener": listener, "priority": int(r["Priority"]),
            "conditions": conditions_of(r.get("Conditions", [])), "action": action,
        }, [listener, action.get("target_group")])
    resources = {**observed.resources, **found}
    runtime = {**observed.runtime, "alb_targets": health_by_group}
    return replace(observed, resources=resources, runtime=runtime)


def _add(found: dict[str, ObservedResource], address: str | None, kind: str, ident: str,
         attrs: dict[str, Any], deps: Iterable[str | None]) -> None:
    if address:
        found[address] = ObservedResource(address, kind, ident, attrs,
                                          deps=tuple(dict.fromkeys(d for d in deps if d and "." in d)))


def _health(tg: dict[str, Any]) -> dict[str, Any]:
    return {
        "path": tg.get("HealthCheckPath"), "port": tg.get("HealthCheckPort"),
        "matcher": (tg.get("Matcher") or {}).get("HttpCode"),
        "interval": tg.get("HealthCheckIntervalSeconds"), "timeout": tg.get("HealthCheckTimeoutSeconds"),
        "healthy": tg.get("HealthyThresholdCount"), "unhealthy": tg.get("UnhealthyThresholdCount"),
    }


def settings_of(attributes: dict[str, str]) -> dict[str, Any]:
    delay = attributes.get("deregistration_delay.timeout_seconds")
    return {
        "algorithm": attributes.get("load_balancing.algorithm.type"),
        "sticky": attributes.get("stickiness.enabled") == "true"
        and attributes.get("stickiness.type") == "lb_cookie",
        "deregistration_delay": int(delay) if delay not in (None, "") else None,
    }


def _target_health(item: dict[str, Any], ref: Callable[[str | None], str | None]) -> dict[str, Any]:
    instance = ref(item["Target"]["Id"]) or item["Target"]["Id"]
    port = int(item["Target"].get("Port") or 0)
    health = item.get("TargetHealth") or {}
    return {"target": target(instance, port), "instance": instance, "id": item["Target"]["Id"], "port": port,
            "state": health.get("State"), "reason": health.get("Reason"),
            "description": health.get("Description")}


def action_of(actions: list[dict[str, Any]], ref: Callable[[str | None], str | None]) -> dict[str, Any]:
    """The last (deciding) action in the shape the model writes; anything else compares unequal."""
    if len(actions) != 1:
        return {"type": "+".join(a.get("Type", "?") for a in actions)}
    a = actions[0]
    kind = a.get("Type")
    if kind == "forward":
        arn = a.get("TargetGroupArn") or ((a.get("ForwardConfig") or {}).get("TargetGroups") or [{}])[0].get(
            "TargetGroupArn")
        return {"type": "forward", "target_group": ref(arn)}
    if kind == "redirect":
        rc = a.get("RedirectConfig") or {}
        port = rc.get("Port")
        return {"type": "redirect", "protocol": rc.get("Protocol"),
                "port": int(port) if str(port).isdigit() else port, "status": rc.get("StatusCode")}
    if kind == "fixed-response":
        status = (a.get("FixedResponseConfig") or {}).get("StatusCode")
        return {"type": "fixed-response", "status": int(status) if str(status).isdigit() else status}
    return {"type": kind}


def conditions_of(conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for c in conditions:
        field = c.get("Field")
        config = {"host-header": "HostHeaderConfig", "path-pattern": "PathPatternConfig"}.get(field or "")
        values = (c.get(config) or {}).get("Values") if config else None
        out.append({"field": field, "values": list(values if values is not None else c.get("Values") or [])})
    order = {"host-header": 0, "path-pattern": 1}
    return sorted(out, key=lambda c: (order.get(c["field"], 2), c["field"] or ""))


class _Reader:
    """Per-parent Describe calls; a parent deleted meanwhile (another apply) reads as empty."""

    def __init__(self, session: AwsSession) -> None:
        self.session = session
        self.elb = session.client("elbv2")

    def _call(self, what: str, call: Callable[[], Any], empty: Any) -> Any:
        with translate(what):
            try:
                return call()
            except botocore.exceptions.ClientError as exc:
                if error_code(exc) in GONE:
                    return empty
                raise

    def tags(self, arns: list[str]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for i in range(0, len(arns), TAG_BATCH):
            batch = arns[i:i + TAG_BATCH]
            found = self._call("elbv2:describe_tags", lambda batch=batch: self.elb.describe_tags(
                ResourceArns=batch)["TagDescriptions"], [])
            out.update({d["ResourceArn"]: tag_map(d) for d in found})
        return out

    def _pages(self, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
        pages = self.elb.get_paginator(operation).paginate(PaginationConfig={"PageSize": PAGE}, **params)
        return [x for page in pages for x in page.get(key, [])]

    def listeners(self, lb_arn: str) -> list[dict[str, Any]]:
        return self._call(lb_arn, lambda: self._pages("describe_listeners", "Listeners",
                                                      LoadBalancerArn=lb_arn), [])

    def rules(self, listener_arn: str) -> list[dict[str, Any]]:
        return self._call(listener_arn, lambda: self._pages("describe_rules", "Rules",
                                                            ListenerArn=listener_arn), [])

    def target_group_attributes(self, arn: str) -> dict[str, Any]:
        found = self._call(
            arn, lambda: self.elb.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"], [])
        return settings_of({a["Key"]: a["Value"] for a in found})

    def target_health(self, arn: str) -> list[dict[str, Any]]:
        return self._call(arn, lambda: self.elb.describe_target_health(TargetGroupArn=arn)
                          ["TargetHealthDescriptions"], [])
