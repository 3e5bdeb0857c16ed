"""AWS provider (boto3): VPC, subnets, gateway, routes, security groups, key
pairs, launch templates and instances, owned through iacorch:* tags."""

from __future__ import annotations

from iacorch.keys import public_keys
from iacorch.provider import IdMap, Step
from iacorch.resources import Observed
from iacorch.stack.load import StackFile
from providers.aws.apply import AwsInputs, AwsSteps
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

    @property
    def calls(self):
        return self.session.calls

    def observe(self) -> Observed:
        return observe(self.session, self.sf.stack.stack)

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
