from __future__ import annotations

import pathlib

import pytest

from iacorch.engine import Engine
from iacorch.report import RecordingReporter
from iacorch.stack.load import StackFile, load_text

ROOT = pathlib.Path(__file__).resolve().parents[2]


# the VM side of the reference stack; its services run on real hosts in tests/e2e
REFERENCE = (ROOT / "stacks" / "aws-web.yaml").read_text().split("\nservices:")[0] + "\n"


def load(text: str) -> StackFile:
    return load_text(text, str(ROOT / "stacks" / "aws-web.yaml"))


def engine_for(sf: StackFile) -> Engine:
    from providers.aws import AwsProvider

    return Engine(sf, AwsProvider(sf), RecordingReporter())


def converge(sf: StackFile, *, destroy: bool = False):
    engine = engine_for(sf)
    observed = engine.observe()
    plan = engine.plan(observed, destroy=destroy)
    result = engine.apply(plan, observed)
    assert result.outcome.ok, result.outcome.failed + result.outcome.skipped
    return plan


def pending(sf: StackFile, *, destroy: bool = False):
    engine = engine_for(sf)
    return engine.plan(engine.observe(), destroy=destroy)


@pytest.fixture
def reference() -> StackFile:
    return load(REFERENCE)
