"""The offline AWS: moto in-process or as a ThreadedMotoServer on 127.0.0.1.

Fixtures:
- ``moto_server``: one server per test session (session scope); its URL.
- ``aws``: function scope; points AWS_ENDPOINT_URL at the server with dummy
  credentials and resets moto's state first, so each test starts empty.
- ``mock_aws_env``: in-process ``mock_aws`` for tests that need no server.

Start mocks before creating any boto3 client; clients are never made at import.
"""

from __future__ import annotations

import logging
import os
import threading
import urllib.request
from typing import Iterator

import pytest

DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


_MOTO_LOCK = threading.RLock()


def serialize_moto() -> None:
    """One moto action at a time, in-process and in the server alike.

    AWS takes concurrent calls, and iacorch's executor makes them (parallel RunInstances). moto's
    backends are not thread-safe: EC2 hands out a subnet's next address from one shared generator,
    and two RunInstances in one subnet at once fail with "generator already executing". A lock
    around each action makes moto answer concurrent callers as the API does. Idempotent."""
    from moto.core.responses import BaseResponse

    if getattr(BaseResponse.call_action, "iacorch_serialized", False):
        return
    original = BaseResponse.call_action

    def call_action(self):
        with _MOTO_LOCK:
            return original(self)

    call_action.iacorch_serialized = True
    BaseResponse.call_action = call_action


class MotoServer:
    """A moto server on 127.0.0.1 with a free port."""

    def __init__(self, port: int = 0) -> None:
        from moto.server import ThreadedMotoServer

        serialize_moto()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.url = ""

    def start(self) -> "MotoServer":
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self

    def reset(self) -> None:
        req = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        urllib.request.urlopen(req, timeout=10).read()

    def stop(self) -> None:
        self._server.stop()

    def env(self) -> dict[str, str]:
        return {**DUMMY_ENV, "AWS_ENDPOINT_URL": self.url}


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    moto_server.reset()
    for key, value in moto_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield moto_server


@pytest.fixture
def mock_aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from moto import mock_aws

    for key, value in DUMMY_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    serialize_moto()
    with mock_aws():
        yield


def main() -> None:  # pragma: no cover - manual use
    """``python -m moto_fixtures.aws [PORT]``: a moto server for trying stacks by hand."""
    import sys
    import time

    server = MotoServer(int(sys.argv[1]) if len(sys.argv) > 1 else 5000).start()
    print(f"moto server on {server.url}; use it with:\n"
          f"  export AWS_ENDPOINT_URL={server.url} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing",
          flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
    os._exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
