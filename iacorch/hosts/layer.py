"""The host layer as the engine sees it: inputs read before planning, observation
of every host in one round trip each, the pure model, and the apply steps."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from iacorch.errors import IacorchError
from iacorch.hosts.build import image_ref
from iacorch.hosts.model import KINDS, HostInputs, HostModel
from iacorch.hosts.observe import gather, host_addresses, merge
from iacorch.hosts.steps import HostSteps
from iacorch.provider import IdMap, Step
from iacorch.report import Reporter
from iacorch.resources import Observed
from iacorch.secrets import SecretResolver
from iacorch.ssh import SshPool
from iacorch.stack.load import StackFile


def service_images(sf: StackFile) -> dict[str, str]:
    """The image each service runs; ``build:`` services get a tag with their context's digest."""
    return {name: image_ref(sf.stack.stack, name, sf.resolve(svc.build)) if svc.build else svc.image
            for name, svc in sf.stack.services.items()}


class HostLayer:
    kinds = KINDS

    def __init__(self, sf: StackFile, provider: Any, pool: SshPool, reporter: Reporter) -> None:
        self.sf, self.provider, self.pool = sf, provider, pool
        capacity = provider.template_capacity() if hasattr(provider, "template_capacity") else {}
        self.images = service_images(sf)
        self.model = HostModel(HostInputs(images=self.images, template_capacity=capacity))
        cloud = getattr(provider, "resolve_secret", None)
        self.steps = HostSteps(sf, pool, self._resolve, SecretResolver(sf.base_dir, cloud), reporter)

    def _resolve(self, host: str, ids: IdMap | None):
        return self.provider.host_address(host, ids)

    def observe(self, infra: Observed, extra_facts=None) -> Observed:
        hosts = {}
        unreachable = {}
        for address in host_addresses(self.sf.stack, infra):
            try:
                hosts[address] = self.provider.host_address(address, None)
            except IacorchError as exc:
                unreachable[address] = exc.message
        facts = gather(self.pool, self.sf.stack, hosts, extra_facts)
        observed = merge(infra, self.sf.stack, facts, self.images)
        hosts_data = dict(observed.hosts)
        for address in hosts:
            if hosts_data.get(address, {}).get("reachable"):
                hosts_data[address] = {**hosts_data[address], "ip": self.provider.peer_ip(address, None)}
        observed = replace(observed, hosts=hosts_data)
        if unreachable:
            hosts_data = dict(observed.hosts)
            hosts_data.update({a: {"reachable": False, "error": e} for a, e in unreachable.items()})
            observed = replace(observed, hosts=hosts_data)
        return observed

    def apply(self, step: Step, ids: IdMap) -> str | None:
        return self.steps.run(step, ids)
