from __future__ import annotations

import pathlib

import pytest
from converging import converging

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


converge, pending = converging(engine_for)


@pytest.fixture
def reference() -> StackFile:
    return load(REFERENCE)
