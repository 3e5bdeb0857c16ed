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


class MotoServer:
    """A moto server on 127.0.0.1 with a free port."""

    def __init__(self, port: int = 0) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.url = ""

    def start(self) -> "MotoServer":
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise  # one line per request otherwise
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
