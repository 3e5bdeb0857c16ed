"""Failures a test asks for: the next N calls of a method fail, or their operations hang.

Methods are named by their API method id, e.g. ``compute.instances.insert``.
An `ApiError` is answered as the HTTP error; an `OperationError` makes the
operation finish DONE with that error and without its effect.
"""

from __future__ import annotations

from collections import defaultdict, deque

from .errors import ApiError, OperationError


class FaultPlan:
    def __init__(self) -> None:
        self._failures: dict[str, deque[ApiError | OperationError]] = defaultdict(deque)
        self._stalls: dict[str, deque[int]] = defaultdict(deque)

    def fail_next(self, method_id: str, error: ApiError | OperationError, times: int) -> None:
        self._failures[method_id].extend([error] * times)

    def stall_next(self, method_id: str, polls: int, times: int) -> None:
        self._stalls[method_id].extend([polls] * times)

    def take_http_failure(self, method_id: str) -> ApiError | None:
        queue = self._failures[method_id]
        if queue and isinstance(queue[0], ApiError):
            return queue.popleft()
        return None

    def take_operation_failure(self, method_id: str) -> OperationError | None:
        queue = self._failures[method_id]
        if queue and isinstance(queue[0], OperationError):
            return queue.popleft()
        return None

    def take_stall(self, method_id: str) -> int:
        queue = self._stalls[method_id]
        return queue.popleft() if queue else 0
