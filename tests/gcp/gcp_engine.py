"""The real engine on stacks/gcp-web.yaml (or edits of it) against the local GCE API,
and real clients to look at what exists."""

from __future__ import annotations

import pathlib

from converging import converging
from google.cloud import compute_v1

from iacorch.engine import Engine
from iacorch.report import RecordingReporter
from iacorch.stack.load import StackFile, load_text
from moto_fixtures.gce import GceServer
from moto_fixtures.gce.clients import GceClients

ROOT = pathlib.Path(__file__).resolve().parents[2]
STACK_PATH = ROOT / "stacks" / "gcp-web.yaml"
# the VM side of the reference stack; its services run on real hosts in tests/e2e/test_gcp_hosts.py
REFERENCE = STACK_PATH.read_text().split("\nservices:")[0] + "\n"
PROJECT = "iacorch-demo"
REGION = "us-central1"


def load(text: str = REFERENCE) -> StackFile:
    return load_text(text, str(STACK_PATH))


def edited(*pairs: tuple[str, str], text: str = REFERENCE) -> StackFile:
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new)
    return load(text)


def engine_for(sf: StackFile) -> Engine:
    from providers.gcp import GcpProvider

    return Engine(sf, GcpProvider(sf), RecordingReporter())


converge, pending = converging(engine_for)


class Cloud(GceClients):
    """Real clients on the local API, for looking behind iacorch's back and changing things there."""

    def __init__(self, server: GceServer) -> None:
        super().__init__(server.url, PROJECT)

    def instances_of(self, stack: str, group: str | None = None) -> list[compute_v1.Instance]:
        text = f"labels.iacorch-stack = {stack}" + (f" labels.iacorch-group = {group}" if group else "")
        pager = self.instances.aggregated_list(request={"project": PROJECT, "filter": text})
        return [i for _, scoped in pager for i in scoped.instances]

    def names(self, client, **scope) -> set[str]:
        return {item.name for item in client.list(project=PROJECT, **scope)}
