"""The local GCE server, driven through the real google-cloud-compute client."""

from __future__ import annotations

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from gce_cloud import Cloud

from moto_fixtures.gce import GceServer
from moto_fixtures.gce.fixtures import gce, gce_client, gce_server  # noqa: F401


@pytest.fixture(scope="session")
def session_cloud(gce_server: GceServer) -> Cloud:  # noqa: F811  (the imported fixture)
    """Clients cost ~2 ms each to build: one set for the session's server."""
    return Cloud(gce_server)


@pytest.fixture
def cloud(gce: GceServer, session_cloud: Cloud) -> Cloud:  # noqa: F811
    """The clients, on a server `gce` has just emptied."""
    return session_cloud
