"""From an HTTP request to a handler's answer: route, count, check scope, inject faults, replay requestIds.

Every request first lets elapsed time move operations and statuses on, then
runs under the world's lock. Paths the server does not implement answer 501
(MethodNotImplemented in the client), so a gap is never mistaken for a
missing resource.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from . import routes
from .call import Call
from .catalogue import IMAGE_PROJECTS, REGIONS, ZONES
from .errors import ApiError, not_found
from .operations import valid_request_id
from .world import World


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict
    delay_seconds: float = 0.0


def _parse_body(raw: bytes) -> object:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as error:
        raise ApiError(400, "parseError", f"Invalid JSON payload received. {error}") from None


def _check_scope(route: routes.Route, params: dict[str, str], only_project: str | None) -> None:
    project = params["project"]
    public_images = route.method_id.startswith("compute.images.") and project in IMAGE_PROJECTS
    if only_project is not None and project != only_project and not public_images:
        raise not_found(f"projects/{project}")
    if "zone" in params and params["zone"] not in ZONES:
        raise not_found(f"projects/{project}/zones/{params['zone']}")
    if "region" in params and params["region"] not in REGIONS:
        raise not_found(f"projects/{project}/regions/{params['region']}")


def dispatch(world: World, only_project: str | None, http_method: str, target: str, raw_body: bytes) -> Reply:
    parts = urlsplit(target)
    query = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
    found = routes.match(http_method, parts.path)
    with world.lock:
        now = time.monotonic()
        world.tick(now)
        if found is None:
            world.requests["unimplemented"] += 1
            message = (
                f"{http_method} {parts.path} is not implemented by the local GCE server (moto_fixtures.gce)"
            )
            return Reply(501, ApiError(501, "notImplemented", message).body())
        route, params = found
        world.requests[route.method_id] += 1
        try:
            params = {key: unquote(value) for key, value in params.items()}
            _check_scope(route, params, only_project)
            failure = world.faults.take_http_failure(route.method_id)
            if failure is not None:
                raise failure
            body = _parse_body(raw_body)
            if route.returns_operation and "requestId" in query:
                earlier = world.operations.replay(route.method_id, valid_request_id(query["requestId"]))
                if earlier is not None:
                    return Reply(200, earlier.render())
            call = Call(world, route.method_id, params, query, body, now)
            answer = route.handler(call)
            return Reply(200, answer, call.delay_seconds)
        except ApiError as error:
            return Reply(error.status, error.body())
