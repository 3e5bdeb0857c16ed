"""The boundary between the engine and a cloud: one small protocol.

A provider observes what its stack owns, applies one step at a time, and
offers the stack lock. Everything SDK-specific (clients, waiters, retries,
error translation) stays behind it in providers/.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal, Mapping, Protocol

from iacorch.errors import ProviderError
from iacorch.plan import Change
from iacorch.resources import Observed, ProviderModel

Op = Literal["create", "update", "delete"]


@dataclass(frozen=True)
class Step:
    """One unit of work: create, update or delete the resource of ``change``."""

    op: Op
    change: Change

    @property
    def key(self) -> tuple[str, Op]:
        return (self.change.address, self.op)

    def __str__(self) -> str:
        return f"{self.op} {self.change.address}"


class IdMap:
    """address -> cloud id, shared by the steps of one apply (thread-safe)."""

    def __init__(self, initial: Mapping[str, str] | None = None) -> None:
        self._ids = dict(initial or {})
        self._lock = threading.Lock()

    def __getitem__(self, address: str) -> str:
        with self._lock:
            if address not in self._ids:
                raise ProviderError(f"{address} does not exist (yet); it is needed here",
                                    hint="run apply again; if it persists, the plan is missing a dependency")
            return self._ids[address]

    def get(self, address: str) -> str | None:
        with self._lock:
            return self._ids.get(address)

    def set(self, address: str, ident: str | None) -> None:
        with self._lock:
            if ident is None:
                self._ids.pop(address, None)
            else:
                self._ids[address] = ident

    def snapshot(self) -> dict[str, str]:
        with self._lock:
            return dict(self._ids)


class Lock(Protocol):
    """A per-stack lock; see iacorch.lock.StackLock for the behaviour around it."""

    def acquire(self, owner: str, operation: str, ttl: float, wait: float) -> None: ...
    def release(self) -> None: ...


class Provider(Protocol):
    name: str
    model: ProviderModel

    def observe(self) -> Observed:
        """One batched pass over everything the stack owns."""

    def apply(self, step: Step, ids: IdMap) -> str | None:
        """Perform one step and wait until it is done; return the new id for a create."""

    def lock_backend(self): ...

    def close(self) -> None: ...
