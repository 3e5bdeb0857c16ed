"""Reaching EC2 instances over SSH: by public IP, by private IP (optionally through a
bastion group's first instance), or through a host binding (see ``providers.hosts``).

moto's instances are not machines, so against a local endpoint iacorch never
dials their addresses and reaches hosts only through bindings.
"""

from __future__ import annotations

from typing import Any

from iacorch.addresses import instance_address
from iacorch.errors import ProviderError
from iacorch.provider import IdMap
from iacorch.ssh import HostAddress
from iacorch.stack.load import StackFile
from providers.aws.session import AwsSession, translate
from providers.hosts import BINDING_WAIT, BINDINGS_ENV, CloudHosts, capacity_table

__all__ = ["BINDINGS_ENV", "BINDING_WAIT", "INSTANCE_TYPES", "AwsHosts", "template_capacity"]


class AwsHosts(CloudHosts):
    cloud = "moto"

    def __init__(self, session: AwsSession, sf: StackFile) -> None:
        super().__init__(sf)
        self.session = session

    @property
    def local_endpoint(self) -> bool:
        return self.session.local_endpoint

    def template_capacity(self) -> dict[str, dict]:
        return template_capacity(self.sf)

    def describe(self, address: str, ident: str) -> dict[str, Any]:
        with translate(address):
            found = self.session.client("ec2").describe_instances(InstanceIds=[ident])["Reservations"]
        item = found[0]["Instances"][0]
        return self.instance_of(ident, ident, item.get("PrivateIpAddress"), item.get("PublicIpAddress"))

    def direct(self, address: str, instance: dict[str, Any], ids: IdMap | None, user: str, port: int,
               key: str) -> HostAddress:
        settings = self.sf.stack.provider.aws.ssh
        jump = None
        if settings.bastion:
            jump = self.address(instance_address(settings.bastion, 0), ids)
        private = settings.via == "private_ip" or jump is not None
        host = instance["private_ip"] if private else instance["public_ip"]
        if not host:
            raise ProviderError(f"instance {instance['id']} has no {'private' if private else 'public'} IP",
                                where=address, hint="put the group in a public subnet, or set provider.aws.ssh: "
                                "{via: private_ip, bastion: GROUP}")
        return HostAddress(name=address, host=host, port=port, user=user, key_path=key,
                           known_hosts=self.known_hosts, jump=jump)


# vCPUs and memory (GiB) of common instance types, for placement before a host reports its own
INSTANCE_TYPES = {
    "t3.nano": (2, 0.5), "t3.micro": (2, 1), "t3.small": (2, 2), "t3.medium": (2, 4), "t3.large": (2, 8),
    "t3.xlarge": (4, 16), "t3.2xlarge": (8, 32), "t4g.small": (2, 2), "t4g.medium": (2, 4),
    "m5.large": (2, 8), "m5.xlarge": (4, 16), "m5.2xlarge": (8, 32), "m6i.large": (2, 8), "m6i.xlarge": (4, 16),
    "c5.large": (2, 4), "c5.xlarge": (4, 8), "c6i.large": (2, 4), "r5.large": (2, 16),
}


def template_capacity(sf: StackFile) -> dict[str, dict]:
    return capacity_table(sf, "instance_type", INSTANCE_TYPES)
