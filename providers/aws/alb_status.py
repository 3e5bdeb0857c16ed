"""``status`` for ``kind: aws-alb``: the ALB's address and each target's health, in the
shape the HAProxy layer gives (iacorch/lb/layer.py), read from one observation."""

from __future__ import annotations

from typing import Any

from iacorch.resources import Observed
from iacorch.stack.model import Stack
from providers.aws.alb_model import alb_address, alb_groups, routed_services, target_group_address


def lb_status(stack: Stack, observed: Observed) -> dict[str, Any]:
    # (instance, slot port) of every running container: the targets that should carry traffic
    live = {(info.get("host"), info.get("host_port"))
            for info in (observed.runtime.get("containers") or {}).values() if info.get("state") == "running"}
    health = observed.runtime.get("alb_targets") or {}
    out: dict[str, Any] = {}
    for name, lb in sorted(stack.load_balancers.items()):
        if lb.kind != "aws-alb":
            continue
        alb = observed.resources.get(alb_address(name))
        dns = alb.attrs.get("dns_name") if alb is not None else None
        url = f"http://{dns}{'' if lb.listen == 80 else f':{lb.listen}'}" if dns else None
        entry: dict[str, Any] = {"kind": lb.kind, "group": ", ".join(alb_groups(stack, lb)), "url": url,
                                 "hosts": {}, "backends": []}
        for service in routed_services(lb):
            for t in health.get(target_group_address(name, service), []):
                entry["backends"].append({
                    "host": t["instance"], "backend": service, "server": t["target"], "state": t["state"],
                    "role": "active" if (t["instance"], t["port"]) in live else "standby",
                    "status": t["reason"], "check": t["description"],
                    "sessions": None, "requests": None,  # the ALB reports these to CloudWatch, not here
                })
        out[name] = entry
    return out
