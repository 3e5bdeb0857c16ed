"""google-cloud-compute clients for one stack: endpoint and credentials, request
counting, and batched listing.

The endpoint is ``provider.gcp.endpoint`` or else ``$IACORCH_GCP_ENDPOINT``
(e.g. ``http://127.0.0.1:8085`` for ``python -m moto_fixtures.gce``); without
either, the public API with Application Default Credentials. A loopback
endpoint gets anonymous credentials. Clients use the REST transport, the only
one the local API speaks, and every HTTP request they send (retries and pages
included) is counted per API method id in ``calls``, e.g.
``compute.instances.aggregatedList``.
"""

from __future__ import annotations

import collections
import functools
import importlib
import os
import threading
from typing import Any
from urllib.parse import urlsplit

from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1

from iacorch.errors import ProviderError
from iacorch.stack.infra import GcpProvider
from providers.gcp.errors import translate

ENDPOINT_ENV = "IACORCH_GCP_ENDPOINT"
PAGE_SIZE = 500  # the largest page the API gives: requests grow with pages, not resources
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _camel(snake: str, upper: bool) -> str:
    head, *rest = snake.split("_")
    return (head.capitalize() if upper else head) + "".join(p.capitalize() for p in rest)


class GceSession:
    """Clients built once per stack and shared by the executor's threads."""

    def __init__(self, settings: GcpProvider) -> None:
        self.project = settings.project
        self.region = settings.region
        self.endpoint = settings.endpoint or os.environ.get(ENDPOINT_ENV) or None
        if self.endpoint and urlsplit(self.endpoint).scheme not in ("http", "https"):
            raise ProviderError(f"the GCE endpoint {self.endpoint!r} has no http:// or https://",
                                hint=f"write it as a URL, e.g. http://127.0.0.1:8085 (provider.gcp.endpoint "
                                     f"or {ENDPOINT_ENV})")
        self.calls: collections.Counter[str] = collections.Counter()
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()

    @property
    def local_endpoint(self) -> bool:
        """True when talking to a local API: anonymous credentials, faster polling."""
        return bool(self.endpoint) and urlsplit(self.endpoint).hostname in _LOOPBACK

    def client(self, service: str) -> Any:
        """The client of a service named as in the API (``instances``, ``zone_operations``)."""
        with self._lock:
            if service not in self._clients:
                with translate(f"gcp project {self.project}", self.endpoint):
                    self._clients[service] = self._build(service)
            return self._clients[service]

    def _build(self, service: str) -> Any:
        camel = _camel(service, upper=True)
        rest = importlib.import_module(f"google.cloud.compute_v1.services.{service}.transports.rest")
        transport = functools.partial(getattr(rest, f"{camel}RestTransport"),
                                      interceptor=self._counter(service, getattr(rest, f"{camel}RestInterceptor")))
        options = ClientOptions(api_endpoint=self.endpoint) if self.endpoint else None
        credentials = AnonymousCredentials() if self.local_endpoint else None
        return getattr(compute_v1, f"{camel}Client")(client_options=options, credentials=credentials,
                                                     transport=transport)

    def _counter(self, service: str, base: type) -> Any:
        """An interceptor whose every ``pre_<method>`` hook counts one request of that method."""
        api = _camel(service, upper=False)

        def hook(method_id: str):
            def pre(_self: Any, request: Any, metadata: Any) -> tuple[Any, Any]:
                with self._count_lock:
                    self.calls[method_id] += 1
                return request, metadata
            return pre

        hooks = {attr: hook(f"compute.{api}.{_camel(attr[4:], upper=False)}")
                 for attr in dir(base) if attr.startswith("pre_")}
        return type(f"Counting{base.__name__}", (base,), hooks)()

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.transport.close()
            self._clients.clear()

    def call(self, service: str, method: str, **request: Any) -> Any:
        """One API call; the caller wraps it in ``translate`` naming the resource."""
        return getattr(self.client(service), method)(request={"project": self.project, **request})

    def list_all(self, service: str, filter: str) -> list[Any]:
        """Every item of a global or regional list matching ``filter``, page by page."""
        pager = self.client(service).list(request={"project": self.project, "filter": filter,
                                                   "max_results": PAGE_SIZE})
        return list(pager)

    def list_across(self, service: str, items: str, filter: str) -> list[Any]:
        """Every item matching ``filter`` in every zone or region: one aggregatedList, page by page."""
        pager = self.client(service).aggregated_list(request={"project": self.project, "filter": filter,
                                                              "max_results": PAGE_SIZE})
        return [item for _, scoped in pager for item in getattr(scoped, items)]
