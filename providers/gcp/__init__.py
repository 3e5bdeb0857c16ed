"""GCP provider (google-cloud-compute): a VPC network, subnetworks, firewall rules,
instance templates and instances, owned through descriptions and labels (see
``ownership``), planned by the same planner and applied by the same executor
as every other provider.

- ``model``: the pure half (stack -> desired resources); imports no Google SDK.
- ``ownership``: how resources are marked as ours and found again.
- ``session``, ``operations``, ``errors``: clients, waits, error translation.
- ``observe``, ``apply``: one batched observation; one step at a time.
- ``provider``: ``GcpProvider``, loaded on first use so the model stays
  importable without google-cloud-compute.
"""

from __future__ import annotations

from typing import Any

__all__ = ["GcpProvider"]


def __getattr__(name: str) -> Any:
    if name == "GcpProvider":
        from providers.gcp.provider import GcpProvider

        return GcpProvider
    raise AttributeError(f"module 'providers.gcp' has no attribute {name!r}")
