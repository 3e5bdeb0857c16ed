"""GCP provider tests: the real engine and the real google-cloud-compute client against the local GCE API."""

from __future__ import annotations

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from moto_fixtures.gce import GceServer
from moto_fixtures.gce.fixtures import gce, gce_client, gce_server  # noqa: F401

STEP_SECONDS = 0.02  # operations and boots move on by themselves this fast, so waits stay short


@pytest.fixture
def gcp(gce: GceServer, monkeypatch: pytest.MonkeyPatch) -> GceServer:  # noqa: F811
    """The local GCE API, emptied, with IACORCH_GCP_ENDPOINT pointing at it."""
    gce.step_seconds = STEP_SECONDS
    monkeypatch.setenv("IACORCH_GCP_ENDPOINT", gce.url)
    return gce
