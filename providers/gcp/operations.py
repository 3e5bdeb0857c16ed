"""Waiting for Compute Engine operations: every mutation answers with one.

An operation lives in a zone, a region or globally, and is waited on through
the operations client of that scope, built with the session's endpoint
(``insert().result()`` would poll the public endpoint whatever the client was
built with). ``wait`` blocks on the server for a while and may answer before
the operation is DONE, so it is called until DONE or our own deadline. A DONE
operation may carry an error (quota, a machine type that does not exist...):
that becomes a ProviderError naming the resource.
"""

from __future__ import annotations

import time
from typing import Any

from google.cloud import compute_v1

from iacorch.errors import ProviderError
from providers.gcp.errors import operation_error
from providers.gcp.session import GceSession

DONE = compute_v1.Operation.Status.DONE
TIMEOUT = 600.0


def _last(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[-1]


def wait_for(session: GceSession, operation: Any, where: str, timeout: float | None = None) -> Any:
    """Wait until ``operation`` is DONE (at most ``timeout``, default ``TIMEOUT`` seconds);
    raise its error, if any, as a ProviderError."""
    timeout = TIMEOUT if timeout is None else timeout
    deadline = time.monotonic() + timeout
    while operation.status != DONE:
        if time.monotonic() >= deadline:
            raise ProviderError(
                f"timed out after {timeout:.0f}s waiting for {operation.operation_type or 'an operation'} "
                f"({operation.name}) to finish", where=where,
                hint="it may still finish: run plan to see where things stand, then apply again")
        if operation.zone:
            operation = session.call("zone_operations", "wait", zone=_last(operation.zone),
                                     operation=operation.name)
        elif operation.region:
            operation = session.call("region_operations", "wait", region=_last(operation.region),
                                     operation=operation.name)
        else:
            operation = session.call("global_operations", "wait", operation=operation.name)
    if operation.error.errors:
        raise operation_error(operation, where)
    return operation
