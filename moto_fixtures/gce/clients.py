"""Building real google-cloud-compute clients that talk to a `GceServer`.

The REST transport is the only one the server speaks; the endpoint must carry
``http://`` (without it the client tries TLS); anonymous credentials keep the
client from looking for real ones. Long-running operations must be polled
with operations clients built the same way (``insert().result()`` polls
through an internal client that goes to the public endpoint).
"""

from __future__ import annotations

from typing import Any, TypeVar

from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials

Client = TypeVar("Client")


def client_settings(endpoint: str) -> dict[str, Any]:
    """Keyword arguments for any ``compute_v1.*Client``: ``compute_v1.NetworksClient(**client_settings(url))``."""
    return {
        "client_options": ClientOptions(api_endpoint=endpoint),
        "credentials": AnonymousCredentials(),
        "transport": "rest",
    }


def compute_client(client_class: type[Client], endpoint: str) -> Client:
    return client_class(**client_settings(endpoint))
