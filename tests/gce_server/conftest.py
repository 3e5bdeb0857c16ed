"""The local GCE server, driven through the real google-cloud-compute client."""

from __future__ import annotations

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from gce_cloud import Cloud

from moto_fixtures.gce import GceServer
from moto_fixtures.gce.fixtures import gce, gce_client, gce_server  # noqa: F401


@pytest.fixture
def cloud(gce: GceServer) -> Cloud:  # noqa: F811  (gce is the imported fixture)
    return Cloud(gce)
