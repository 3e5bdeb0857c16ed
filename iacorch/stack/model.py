"""The stack: one file describing VMs, containers and load balancers."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from iacorch.stack.infra import (
    Group, LaunchTemplate, Network, ProviderConfig, Reconcile, SecurityGroup, Spec,
)
from iacorch.stack.services import LoadBalancer, Service
from iacorch.stack.units import Name


class Stack(Spec):
    stack: Name = Field(..., description="name of the stack; every resource is tagged with it")
    provider: ProviderConfig
    vars: dict[str, Any] = Field(default_factory=dict, description="Jinja2 variables for string values")
    network: Network | None = None
    security_groups: dict[Name, SecurityGroup] = Field(default_factory=dict)
    launch_templates: dict[Name, LaunchTemplate] = Field(default_factory=dict)
    groups: dict[Name, Group] = Field(default_factory=dict)
    services: dict[Name, Service] = Field(default_factory=dict)
    load_balancers: dict[Name, LoadBalancer] = Field(default_factory=dict)
    reconcile: Reconcile | None = None

    @property
    def provider_kind(self) -> str:
        return self.provider.kind
