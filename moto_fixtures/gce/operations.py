"""Operations: every mutation returns one, and its effect happens when it reaches DONE.

An operation goes PENDING -> RUNNING -> DONE, one step per poll (get or wait
on it) or per `step_seconds` of elapsed time; `wait` finishes it at once.
Its effect (creating, changing or deleting the target) runs exactly once, on
the way to DONE, and may fail with an `OperationError` that the operation then
carries. Operations on one target take effect in the order they were started.
An insert reserves its target's name until it is DONE.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from .clock import timestamp
from .errors import OperationError, invalid
from .progression import Progression
from .references import url

if TYPE_CHECKING:
    from .call import Call

STEPS = ("PENDING", "RUNNING", "DONE")
PROGRESS = {"PENDING": 0, "RUNNING": 50, "DONE": 100}
USER = "anonymous@local.test"

Effect = Callable[[], "OperationError | None"]


class Operation:
    def __init__(self, body: dict, scope: str, target: str, effect: Effect, stall_polls: int, now: float):
        self.body = body
        self.scope = scope
        self.target = target
        self.effect = effect
        self.stall_polls = stall_polls
        self.progression = Progression(STEPS, now)
        self.done = False

    @property
    def path(self) -> str:
        return f"{self.scope}/operations/{self.body['name']}"

    def render(self) -> dict:
        return copy.deepcopy(self.body)


class OperationBook:
    def __init__(self) -> None:
        self._operations: dict[str, Operation] = {}
        self._by_request: dict[tuple[str, str], Operation] = {}
        self._reservations: dict[str, Operation] = {}

    def add(self, operation: Operation, request_key: tuple[str, str] | None, reserves: bool) -> None:
        self._operations[operation.path] = operation
        if request_key:
            self._by_request[request_key] = operation
        if reserves:
            self._reservations[operation.target] = operation

    def find(self, path: str) -> Operation | None:
        return self._operations.get(path)

    def replay(self, method_id: str, request_id: str) -> Operation | None:
        """The operation an earlier call with the same requestId started (the API's idempotency)."""
        return self._by_request.get((method_id, request_id))

    def reserved(self, path: str) -> bool:
        """Whether an insert of `path` is still running."""
        return path in self._reservations

    def in_scope(self, scope: str) -> list[Operation]:
        return [operation for operation in self._operations.values() if operation.scope == scope]

    def delete(self, operation: Operation, now: float) -> None:
        """Forget the operation; deleting the record does not cancel the work, so it finishes first."""
        self.finish(operation, now)
        del self._operations[operation.path]

    def observe(self, operation: Operation, now: float) -> None:
        """One poll: moves the operation one step; a stalled one only from PENDING to RUNNING, using up a stall."""
        if operation.stall_polls:
            operation.stall_polls -= 1
            if operation.progression.status == "PENDING":
                operation.progression.advance(now)
        else:
            operation.progression.advance(now)
        self._settle(operation, now)

    def finish(self, operation: Operation, now: float) -> None:
        operation.progression.finish(now)
        self._settle(operation, now)

    def tick(self, now: float, step_seconds: float) -> None:
        for operation in list(self._operations.values()):
            if not operation.done and not operation.stall_polls:
                operation.progression.catch_up(now, step_seconds)
                self._settle(operation, now)

    def _settle(self, operation: Operation, now: float) -> None:
        status = operation.progression.status
        operation.body["status"] = status
        operation.body["progress"] = PROGRESS[status]
        if status != "PENDING":
            operation.body.setdefault("startTime", timestamp())
        if status == "DONE" and not operation.done:
            self._complete(operation, now)

    def _complete(self, operation: Operation, now: float) -> None:
        operation.done = True
        for earlier in list(self._operations.values()):
            if earlier is operation:
                break
            if earlier.target == operation.target and not earlier.done:
                self.finish(earlier, now)
        if self._reservations.get(operation.target) is operation:
            del self._reservations[operation.target]
        error = operation.effect()
        operation.body["endTime"] = timestamp()
        if error is not None:
            operation.body.update(error.operation_fields())


def valid_request_id(request_id: str) -> str:
    try:
        parsed = uuid.UUID(request_id)
    except ValueError:
        parsed = None
    if parsed is None or parsed.int == 0:
        raise invalid("requestId", request_id, "Must be a valid non-zero UUID.")
    return request_id


def begin(
    call: Call,
    *,
    operation_type: str,
    scope: str,
    target: str,
    target_id: str,
    effect: Effect,
    reserves: bool = False,
    undo: Callable[[], None] | None = None,
) -> dict:
    """Start the operation for a mutation the request validated; answer with it.

    `undo` reverts what the request itself already changed, for when a test
    made this operation fail (see `FaultPlan`).
    """
    world = call.world
    failure = world.faults.take_operation_failure(call.method_id)
    name = (
        f"operation-{int(time.time() * 1000)}-{world.random.getrandbits(52):013x}-"
        f"{world.random.getrandbits(32):08x}-{world.random.getrandbits(32):08x}"
    )
    body = {
        "kind": "compute#operation",
        "id": world.new_id(),
        "name": name,
        "operationType": operation_type,
        "targetLink": url(target),
        "targetId": target_id,
        "status": "PENDING",
        "user": USER,
        "progress": 0,
        "insertTime": timestamp(),
        "selfLink": url(f"{scope}/operations/{name}"),
    }
    if "/zones/" in scope:
        body["zone"] = url(scope)
    elif "/regions/" in scope:
        body["region"] = url(scope)
    stall_polls = world.faults.take_stall(call.method_id)
    operation = Operation(
        body, scope, target, _failing(failure, undo) if failure else effect, stall_polls, call.now
    )
    request_id = call.query.get("requestId")
    world.operations.add(operation, (call.method_id, request_id) if request_id else None, reserves)
    return operation.render()


def _failing(failure: OperationError, undo: Callable[[], None] | None) -> Effect:
    """The effect of an operation a test made fail: nothing, bar undoing what the request did at once."""

    def effect() -> OperationError:
        if undo is not None:
            undo()
        return failure

    return effect
