"""`GceServer`: a local, in-memory Compute Engine v1 REST API for the real google-cloud-compute client.

    with GceServer() as gce:                       # binds 127.0.0.1 on a free port
        client = compute_v1.InstancesClient(**client_settings(gce.url))
        gce.set_quota("CPUS", 4, region="us-central1")
        gce.fail_next("compute.instances.insert", OperationError("ZONE_RESOURCE_POOL_EXHAUSTED", "...", 503))
        ...
        print(gce.requests)                          # Counter of calls per API method id

Tests and fixtures steer it through this object, never through the HTTP API
the client uses. It only ever binds a loopback address.
"""

from __future__ import annotations

import ipaddress
import json
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

from .dispatch import dispatch
from .errors import ApiError, OperationError
from .routes import METHOD_IDS, OPERATION_METHOD_IDS
from .world import World


class GceServer:
    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, project: str | None = None, log_requests: bool = False
    ):
        """`project`, when given, is the only project served (others answer 404, as a project you
        cannot see does); public image projects stay readable."""
        if not ipaddress.ip_address(host).is_loopback or ipaddress.ip_address(host).version != 4:
            raise ValueError(f"GceServer only binds an IPv4 loopback address, not {host!r}")
        self.host = host
        self.project = project
        self.log_requests = log_requests
        self._requested_port = port
        self._world = World()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> Self:
        if self._httpd is not None:
            raise RuntimeError("GceServer is already started")
        self._httpd = ThreadingHTTPServer((self.host, self._requested_port), _handler_for(self))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="gce-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("GceServer is not started")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """The `api_endpoint` for the client's ClientOptions, e.g. http://127.0.0.1:41234."""
        return f"http://{self.host}:{self.port}"

    # what tests steer

    def reset(self) -> None:
        """Forget every resource, operation, quota, fault, timing setting and request count."""
        self._world = World()

    @property
    def world(self) -> World:
        return self._world

    def set_quota(self, metric: str, limit: float, region: str | None = None) -> None:
        """Regional metrics: CPUS, INSTANCES, IN_USE_ADDRESSES, DISKS_TOTAL_GB (give `region`);
        global ones: NETWORKS, SUBNETWORKS, FIREWALLS, INSTANCE_TEMPLATES."""
        with self._world.lock:
            self._world.quota_limits.set(metric, limit, region)

    def fail_next(self, method_id: str, error: ApiError | OperationError, times: int = 1) -> None:
        """Make the next `times` calls of `method_id` fail: an ApiError as that HTTP error, an
        OperationError inside the (DONE) operation, with no effect."""
        _check_method(method_id, OPERATION_METHOD_IDS if isinstance(error, OperationError) else METHOD_IDS)
        with self._world.lock:
            self._world.faults.fail_next(method_id, error, times)

    def stall_next(self, method_id: str, polls: int, times: int = 1) -> None:
        """The operations of the next `times` calls of `method_id` stay RUNNING for `polls` polls
        (get or wait), whatever the time; a wait on one answers after `wait_timeout_seconds`."""
        _check_method(method_id, OPERATION_METHOD_IDS)
        with self._world.lock:
            self._world.faults.stall_next(method_id, polls, times)

    @property
    def requests(self) -> Counter[str]:
        """Calls so far per API method id (``compute.instances.insert``); ``unimplemented`` for the rest."""
        with self._world.lock:
            return Counter(self._world.requests)

    @property
    def step_seconds(self) -> float:
        """How long each operation and status step takes when nobody polls it."""
        return self._world.step_seconds

    @step_seconds.setter
    def step_seconds(self, seconds: float) -> None:
        self._world.step_seconds = seconds

    @property
    def wait_timeout_seconds(self) -> float:
        """How long `wait` blocks on an operation that does not finish (a stalled one)."""
        return self._world.wait_timeout_seconds

    @wait_timeout_seconds.setter
    def wait_timeout_seconds(self, seconds: float) -> None:
        self._world.wait_timeout_seconds = seconds


def _check_method(method_id: str, known: frozenset[str]) -> None:
    if method_id not in known:
        raise ValueError(f"{method_id!r} is not one of: {', '.join(sorted(known))}")


def _handler_for(server: GceServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "moto-fixtures-gce/1"
        disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw_body = self.rfile.read(length) if length else b""
            try:
                reply = dispatch(server.world, server.project, self.command, self.path, raw_body)
            except Exception as error:  # noqa: BLE001  a bug in this server: answer it visibly, never hang the client
                print(f"moto_fixtures.gce: {self.command} {self.path} failed", file=sys.stderr)
                sys.excepthook(type(error), error, error.__traceback__)
                status, body, delay = (
                    500,
                    ApiError(500, "backendError", f"{type(error).__name__}: {error}").body(),
                    0.0,
                )
            else:
                status, body, delay = reply.status, reply.body, reply.delay_seconds
            if delay:
                time.sleep(delay)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:
            if server.log_requests:
                super().log_message(format, *args)

    return Handler
