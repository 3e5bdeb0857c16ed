"""AWS provider (boto3): VPC, subnets, gateway, routes, security groups, key
pairs, launch templates and instances, and ``kind: aws-alb`` load balancers,
owned through iacorch:* tags."""

from __future__ import annotations

from iacorch.keys import public_keys
from iacorch.provider import IdMap, Step
from iacorch.resources import Observed
from iacorch.stack.load import StackFile
from providers.aws.alb_apply import AlbSteps
from providers.aws.alb_model import KINDS as ALB_KINDS
from providers.aws.alb_model import AwsAlbLayer
from providers.aws.alb_observe import observe_albs
from providers.aws.alb_status import lb_status
from providers.aws.apply import AwsInputs, AwsSteps
from providers.aws.hosts import AwsHosts
from providers.aws.lock import DEFAULT_TABLE, DynamoLock, S3Lock
from providers.aws.model import AwsModel
from providers.aws.observe import observe
from providers.aws.session import AwsSession
from providers.hosts import ReachesHosts


class AwsProvider(ReachesHosts):
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
        self._alb_steps: AlbSteps | None = None
        self.hosts = AwsHosts(self.session, sf)
        # planned after the host layer: the ALB's targets follow where replicas are placed
        self.layers = [AwsAlbLayer()]

    @property
    def calls(self):
        return self.session.calls

    def observe(self) -> Observed:
        observed = observe_albs(self.session, self.sf.stack.stack, observe(self.session, self.sf.stack.stack))
        self.hosts.remember(observed)
        return observed

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

    def lb_status(self, observed: Observed) -> dict:
        """status of the stack's aws-alb load balancers: URL and target health."""
        return lb_status(self.sf.stack, observed)

    def apply(self, step: Step, ids: IdMap) -> str | None:
        if step.change.kind in ALB_KINDS:
            if self._alb_steps is None:
                self._alb_steps = AlbSteps(self.session, self.sf.stack.stack)
            return self._alb_steps.run(step, ids)
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
