"""pytest fixtures for the local GCE API. Import them into a conftest.py:

    from moto_fixtures.gce.fixtures import gce, gce_client, gce_server  # noqa: F401

`gce_server` is one server for the session; `gce` is that server with fresh
state for each test; `gce_client(compute_v1.InstancesClient)` builds a real
client pointed at it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .clients import compute_client
from .server import GceServer


@pytest.fixture(scope="session")
def gce_server() -> Iterator[GceServer]:
    with GceServer() as server:
        yield server


@pytest.fixture
def gce(gce_server: GceServer) -> GceServer:
    gce_server.reset()
    return gce_server


@pytest.fixture
def gce_client(gce: GceServer) -> Callable[[type], Any]:
    return lambda client_class: compute_client(client_class, gce.url)
