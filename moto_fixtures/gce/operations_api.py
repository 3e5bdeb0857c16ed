"""zoneOperations, regionOperations, globalOperations: get, list, delete, wait.

`get` counts as one poll (the operation moves one step). `wait` finishes the
operation and answers DONE; an operation a test stalled stays RUNNING, and
`wait` answers it after the server's bounded wait (`wait_timeout_seconds`).
"""

from __future__ import annotations

from .call import Call
from .errors import not_found
from .listing import list_response
from .operations import Operation

FIELDS = frozenset(
    {
        "kind", "id", "name", "operationType", "targetLink", "targetId", "status", "user", "progress",
        "insertTime", "startTime", "endTime", "selfLink", "zone", "region", "error", "httpErrorStatusCode",
        "httpErrorMessage",
    }
)  # fmt: skip


def _scope(call: Call) -> str:
    if "zone" in call.params:
        return f"projects/{call.project}/zones/{call.params['zone']}"
    if "region" in call.params:
        return f"projects/{call.project}/regions/{call.params['region']}"
    return f"projects/{call.project}/global"


def _operation(call: Call) -> Operation:
    path = f"{_scope(call)}/operations/{call.params['operation']}"
    operation = call.world.operations.find(path)
    if operation is None:
        raise not_found(path)
    return operation


def get(call: Call) -> dict:
    operation = _operation(call)
    call.world.operations.observe(operation, call.now)
    return operation.render()


def wait(call: Call) -> dict:
    operation = _operation(call)
    if operation.stall_polls:
        call.world.operations.observe(operation, call.now)
        call.delay_seconds = call.world.wait_timeout_seconds
    else:
        call.world.operations.finish(operation, call.now)
    return operation.render()


def list_(call: Call) -> dict:
    scope = _scope(call)
    operations = [operation.render() for operation in call.world.operations.in_scope(scope)]
    return list_response("compute#operationList", f"{scope}/operations", operations, call.query, FIELDS)


def delete(call: Call) -> dict:
    call.world.operations.delete(_operation(call), call.now)
    return {}
