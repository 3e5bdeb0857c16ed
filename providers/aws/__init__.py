"""AWS provider (boto3): VPC, subnets, gateway, routes, security groups, key
pairs, launch templates and instances, owned through iacorch:* tags."""

from __future__ import annotations

from iacorch.keys import public_keys
from iacorch.provider import IdMap, Step
from iacorch.resources import Observed
from iacorch.ssh import HostAddress
from iacorch.stack.load import StackFile
from providers.aws.apply import AwsInputs, AwsSteps
from providers.aws.hosts import AwsHosts, template_capacity
from providers.aws.lock import DEFAULT_TABLE, DynamoLock, S3Lock
from providers.aws.model import AwsModel
from providers.aws.observe import observe
from providers.aws.session import AwsSession


class AwsProvider:
    name = "aws"

    def __init__(self, sf: StackFile) -> None:
        self.sf = sf
        stack = sf.stack
        self.session = AwsSession(stack.provider.aws)
        keys = public_keys(sf)
        self.model = AwsModel(keys)
        self.inputs = AwsInputs(stack.stack, keys,
                                {n: t.user_data for n, t in stack.launch_templates.items()})
        self._steps: AwsSteps | None = None
        self.hosts = AwsHosts(self.session, sf)

    @property
    def calls(self):
        return self.session.calls

    def observe(self) -> Observed:
        observed = observe(self.session, self.sf.stack.stack)
        self.hosts.remember(observed)
        return observed

    def host_address(self, address: str, ids: IdMap | None = None) -> HostAddress:
        return self.hosts.address(address, ids)

    def peer_ip(self, address: str, ids: IdMap | None = None) -> str | None:
        return self.hosts.peer_ip(address, ids)

    def lb_url(self, address: str, port: int, scheme: str = "http") -> str | None:
        return self.hosts.lb_url(address, port, scheme)

    def template_capacity(self) -> dict[str, dict]:
        return template_capacity(self.sf)

    def resolve_secret(self, scheme: str, ref: str) -> str:
        """ssm:/path (SecureString, decrypted) and secretsmanager:name[:key] on this stack's account."""
        from iacorch.errors import IacorchError
        from providers.aws.session import translate

        with translate(f"secret {scheme}:{ref}"):
            if scheme == "ssm":
                return self.session.client("ssm").get_parameter(Name=ref, WithDecryption=True)["Parameter"]["Value"]
            if scheme == "secretsmanager":
                return self.session.client("secretsmanager").get_secret_value(SecretId=ref)["SecretString"]
        raise IacorchError(f"unknown secret scheme {scheme}:", hint="use env:, file:, ssm: or secretsmanager:")

    def apply(self, step: Step, ids: IdMap) -> str | None:
        if self._steps is None:
            self._steps = AwsSteps(self.session, self.sf.stack.stack, self.inputs)
        return self._steps.run(step, ids)

    def lock_backend(self):
        lock = self.sf.stack.provider.aws.lock
        if lock.s3:
            return S3Lock(self.session, lock.s3, self.sf.stack.stack)
        return DynamoLock(self.session, lock.dynamodb or DEFAULT_TABLE, self.sf.stack.stack)

    def close(self) -> None:
        pass
