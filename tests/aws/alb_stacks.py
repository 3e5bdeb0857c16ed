"""The ALB test stack (tests/aws/alb/shop.yaml) and edits of it, and what ELBv2 holds, read
straight from the API: shared by test_alb.py and test_alb_targets.py."""

from __future__ import annotations

import pathlib

import boto3

from iacorch.stack.load import StackFile, load_text
from providers.aws.alb_model import AwsAlbLayer

DATA = pathlib.Path(__file__).resolve().parent / "alb"
SHOP_PATH = DATA / "shop.yaml"
SHOP = SHOP_PATH.read_text()
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666"
ALB_KINDS = set(AwsAlbLayer.kinds)
LISTEN = "    listen: 80\n"
ROUTES = "    routes:\n      - {host: api.example.com, service: api}\n      - {path: /api, service: api}\n"
TWO_HOSTS = ("security_groups: [app], size: 0", "security_groups: [app], size: 2")


def edited(*edits: tuple[str, str]) -> str:
    text = SHOP
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return text


def shop(*edits: tuple[str, str]) -> StackFile:
    return load_text(edited(*edits), str(SHOP_PATH))


def slots_of(containers, service: str) -> set[str]:
    """Both slot ports of the pair each placed replica of ``service`` publishes on, on its host."""
    out = set()
    for c in containers:
        if c.kind == "container" and c.address.startswith(f"service.{service}["):
            base = c.attrs["host_port"] - c.attrs["host_port"] % 2
            out |= {f"{c.attrs['host']}:{base}", f"{c.attrs['host']}:{base + 1}"}
    return out


def in_elbv2() -> dict[str, list]:
    """What exists in ELBv2, read straight from the API."""
    elb = boto3.client("elbv2")
    lbs = elb.describe_load_balancers()["LoadBalancers"]
    listeners = [x for lb in lbs
                 for x in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]]
    rules = [r for x in listeners for r in elb.describe_rules(ListenerArn=x["ListenerArn"])["Rules"]]
    return {"lbs": [x["LoadBalancerName"] for x in lbs],
            "target_groups": [x["TargetGroupName"] for x in elb.describe_target_groups()["TargetGroups"]],
            "listeners": [x["Port"] for x in listeners],
            "rules": sorted(r["Priority"] for r in rules if not r["IsDefault"])}


NOTHING = {"lbs": [], "target_groups": [], "listeners": [], "rules": []}
