"""The per-stack lock around apply and destroy.

A backend stores one record per stack: owner, operation, when it was taken
and when it expires. The holder renews the expiry from a heartbeat thread,
so a crashed apply stops renewing and its lock lapses after the TTL instead
of holding the stack forever. ``iacorch unlock`` removes it by force.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Protocol

from iacorch.errors import LockError

DEFAULT_TTL = 60.0


@dataclass(frozen=True)
class LockRecord:
    stack: str
    owner: str
    operation: str
    token: str
    acquired_at: float
    expires_at: float

    def describe(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.acquired_at))
        left = self.expires_at - now
        expiry = f"expires in {left:.0f}s unless renewed" if left > 0 else "expired"
        return f"{self.owner} ({self.operation}) since {since}, {expiry}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "LockRecord":
        return cls(**json.loads(text))


class LockBackend(Protocol):
    where: str

    def put_if_free(self, record: LockRecord, now: float) -> LockRecord | None:
        """Store ``record`` if no live lock exists; else return the holder's record."""

    def renew(self, record: LockRecord) -> bool:
        """Extend our lock; False if it is no longer ours."""

    def delete(self, token: str | None) -> LockRecord | None:
        """Remove the lock (ours by token, or any lock when token is None); return what was there."""

    def read(self) -> LockRecord | None: ...


def who_am_i() -> str:
    try:
        user = getpass.getuser()
    except Exception:
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def holder_is_dead(record: LockRecord) -> bool:
    """True when the lock was taken on this machine by a process that no longer exists."""
    user_host, _, pid = record.owner.partition(" pid ")
    if user_host.rpartition("@")[2] != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class StackLock:
    """Context manager: take the lock (waiting up to ``wait`` seconds), heartbeat, release."""

    def __init__(self, backend: LockBackend, stack: str, operation: str, *, ttl: float = DEFAULT_TTL,
                 wait: float = 0.0, poll: float = 1.0) -> None:
        self.backend, self.stack, self.operation = backend, stack, operation
        self.ttl, self.wait, self.poll = ttl, wait, poll
        self.record: LockRecord | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False

    def __enter__(self) -> "StackLock":
        deadline = time.monotonic() + self.wait
        while True:
            now = time.time()
            mine = LockRecord(self.stack, who_am_i(), self.operation, uuid.uuid4().hex, now, now + self.ttl)
            holder = self.backend.put_if_free(mine, now)
            if holder is None:
                self.record = mine
                break
            if holder_is_dead(holder):
                # an apply on this machine that was killed: its lock would lapse at its TTL anyway
                self.backend.delete(holder.token)
                continue
            if time.monotonic() >= deadline:
                hint = ("wait for it with --lock-timeout DURATION, or, if that process is gone, "
                        f"run: iacorch unlock STACKFILE (lock at {self.backend.where})")
                raise LockError(f"stack {self.stack!r} is locked by {holder.describe(now)}", hint=hint)
            time.sleep(min(self.poll, max(0.05, deadline - time.monotonic())))
        self._thread = threading.Thread(target=self._heartbeat, name="lock-heartbeat", daemon=True)
        self._thread.start()
        return self

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            assert self.record is not None
            renewed = LockRecord(**{**asdict(self.record), "expires_at": time.time() + self.ttl})
            try:
                if self.backend.renew(renewed):
                    self.record = renewed
                else:
                    self.lost = True
                    return
            except Exception:
                continue  # a transient failure; the next beat retries before the TTL runs out

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        if self.record is not None:
            try:
                self.backend.delete(self.record.token)
            finally:
                self.record = None


class FileLockBackend:
    """A lock file for stacks without a cloud (local) or where the user asks for one.

    Every read-modify-write happens under an flock on a guard file next to it,
    and records are written to a temp file and renamed into place, so two
    takers cannot both win and a reader never sees half a record.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.where = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    def _guard(self):
        import fcntl

        class _Guard:
            def __enter__(g):
                g.fd = os.open(self.path + ".guard", os.O_CREAT | os.O_RDWR, 0o600)
                fcntl.flock(g.fd, fcntl.LOCK_EX)
                return g

            def __exit__(g, *exc):
                fcntl.flock(g.fd, fcntl.LOCK_UN)
                os.close(g.fd)
        return _Guard()

    def read(self) -> LockRecord | None:
        try:
            with open(self.path, encoding="utf-8") as f:
                return LockRecord.from_json(f.read())
        except FileNotFoundError:
            return None
        except (ValueError, TypeError):
            return None

    def _write(self, record: LockRecord) -> None:
        tmp = f"{self.path}.{record.token}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(record.to_json())
        os.replace(tmp, self.path)

    def put_if_free(self, record: LockRecord, now: float) -> LockRecord | None:
        with self._guard():
            current = self.read()
            if current is not None and current.expires_at > now:
                return current
            self._write(record)
            return None

    def renew(self, record: LockRecord) -> bool:
        with self._guard():
            current = self.read()
            if current is None or current.token != record.token:
                return False
            self._write(record)
            return True

    def delete(self, token: str | None) -> LockRecord | None:
        with self._guard():
            current = self.read()
            if current is None or (token is not None and current.token != token):
                return current if token is None else None
            os.unlink(self.path)
            return current
