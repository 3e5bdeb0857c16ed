"""``GcpProvider``: the Provider protocol on Compute Engine, wiring the model,
the session, observation, the apply steps and the stack lock together."""

from __future__ import annotations

import os

from iacorch.home import stack_dir
from iacorch.keys import public_keys
from iacorch.lock import FileLockBackend
from iacorch.provider import IdMap, Step
from iacorch.resources import Observed
from iacorch.stack.load import StackFile
from providers.gcp.apply import GcpSteps, TemplateInputs
from providers.gcp.hosts import GcpHosts
from providers.gcp.model import GcpModel
from providers.gcp.observe import observe
from providers.gcp.session import GceSession
from providers.hosts import ReachesHosts


class GcpProvider(ReachesHosts):
    name = "gcp"

    def __init__(self, sf: StackFile) -> None:
        self.sf = sf
        stack = sf.stack
        self.session = GceSession(stack.provider.gcp)
        keys = public_keys(sf)
        self.model = GcpModel(keys)
        self.inputs = TemplateInputs(keys, {n: t.user_data for n, t in stack.launch_templates.items()})
        self._steps: GcpSteps | None = None
        self.hosts = GcpHosts(self.session, sf)

    @property
    def calls(self):
        """Requests sent so far, per API method id (``compute.instances.aggregatedList``)."""
        return self.session.calls

    def observe(self) -> Observed:
        observed = observe(self.session, self.sf.stack.stack)
        self.hosts.remember(observed)
        return observed

    def apply(self, step: Step, ids: IdMap) -> str | None:
        if self._steps is None:
            self._steps = GcpSteps(self.session, self.sf.stack.stack, self.inputs)
        return self._steps.run(step, ids)

    def lock_backend(self) -> FileLockBackend:
        """GCE has no conditional-write primitive as handy as DynamoDB's: a lock file,
        at ``provider.gcp.lock`` or under ``$IACORCH_HOME/stacks/STACK/``."""
        path = self.sf.stack.provider.gcp.lock
        return FileLockBackend(self.sf.resolve(path) if path else os.path.join(stack_dir(self.sf.stack.stack), "lock"))

    def close(self) -> None:
        self.session.close()
