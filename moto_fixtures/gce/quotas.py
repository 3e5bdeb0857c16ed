"""Project quotas: limits tests can set, usage counted from what exists.

Regional metrics are counted per project and region, global ones per project.
A mutation that would go over a limit fails in its operation with
QUOTA_EXCEEDED (HTTP 403 inside the operation), as on the real API. Stopped
(TERMINATED) instances use no CPUS and, having lost their ephemeral external
IPs, no IN_USE_ADDRESSES; their disks still count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .catalogue import MACHINE_TYPES, REGIONS, ZONES
from .errors import OperationError
from .references import name_of

if TYPE_CHECKING:
    from .world import World

REGIONAL_DEFAULTS = {
    "CPUS": 2400.0,
    "INSTANCES": 1000.0,
    "IN_USE_ADDRESSES": 500.0,
    "DISKS_TOTAL_GB": 409600.0,
}
GLOBAL_DEFAULTS = {
    "NETWORKS": 100.0,
    "SUBNETWORKS": 1000.0,
    "FIREWALLS": 1000.0,
    "INSTANCE_TEMPLATES": 1000.0,
}


class QuotaLimits:
    def __init__(self) -> None:
        self._limits: dict[tuple[str, str | None], float] = {}

    def set(self, metric: str, limit: float, region: str | None = None) -> None:
        defaults = REGIONAL_DEFAULTS if region else GLOBAL_DEFAULTS
        if metric not in defaults:
            scope = "regional" if region else "global"
            raise ValueError(f"unknown {scope} quota metric {metric!r}; known: {sorted(defaults)}")
        if region is not None and region not in REGIONS:
            raise ValueError(f"unknown region {region!r}")
        self._limits[metric, region] = float(limit)

    def limit(self, metric: str, region: str | None) -> float:
        defaults = REGIONAL_DEFAULTS if region else GLOBAL_DEFAULTS
        return self._limits.get((metric, region), defaults[metric])


def instance_cpus(instance: dict) -> int:
    return MACHINE_TYPES[name_of(instance["machineType"])].guest_cpus


def regional_usage(world: World, project: str, region: str) -> dict[str, float]:
    instances = [
        instance
        for zone, zone_region in ZONES.items()
        if zone_region == region
        for instance in world.items(f"projects/{project}/zones/{zone}/instances")
    ]
    running = [instance for instance in instances if instance["status"] != "TERMINATED"]
    return {
        "CPUS": float(sum(instance_cpus(instance) for instance in running)),
        "INSTANCES": float(len(instances)),
        "IN_USE_ADDRESSES": float(
            sum(
                1
                for instance in instances
                for interface in instance["networkInterfaces"]
                for access in interface.get("accessConfigs", [])
                if "natIP" in access
            )
        ),
        "DISKS_TOTAL_GB": float(
            sum(int(disk["diskSizeGb"]) for instance in instances for disk in instance["disks"])
        ),
    }


def global_usage(world: World, project: str) -> dict[str, float]:
    return {
        "NETWORKS": float(len(world.items(f"projects/{project}/global/networks"))),
        "SUBNETWORKS": float(
            sum(len(items) for items in world.items_across(project, "regions", "subnetworks").values())
        ),
        "FIREWALLS": float(len(world.items(f"projects/{project}/global/firewalls"))),
        "INSTANCE_TEMPLATES": float(len(world.items(f"projects/{project}/global/instanceTemplates"))),
    }


def exceeded(
    world: World, project: str, demand: dict[str, float], region: str | None = None
) -> OperationError | None:
    """The QUOTA_EXCEEDED error when adding `demand` would go over a limit, else None."""
    usage = regional_usage(world, project, region) if region else global_usage(world, project)
    for metric, amount in demand.items():
        limit = world.quota_limits.limit(metric, region)
        if amount > 0 and usage[metric] + amount > limit:
            where = f"in region {region}" if region else "globally"
            dimensions = {"region": region} if region else {}
            return OperationError(
                "QUOTA_EXCEEDED",
                f"Quota '{metric}' exceeded.  Limit: {limit:.1f} {where}.",
                403,
                details=(
                    {
                        "quotaInfo": {
                            "metricName": f"compute.googleapis.com/{metric.lower()}",
                            "limitName": f"{metric}-per-project" + ("-region" if region else ""),
                            "dimensions": dimensions,
                            "limit": limit,
                        }
                    },
                ),
            )
    return None


def region_quotas(world: World, project: str, region: str) -> list[dict]:
    """The `quotas` list of a region resource."""
    usage = regional_usage(world, project, region)
    return [
        {"metric": metric, "limit": world.quota_limits.limit(metric, region), "usage": usage[metric]}
        for metric in REGIONAL_DEFAULTS
    ]
