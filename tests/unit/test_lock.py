"""The stack lock: one holder, a clear message naming it, expiry when the holder dies, force unlock."""

from __future__ import annotations

import threading
import time

import pytest

from iacorch.errors import LockError
from iacorch.lock import FileLockBackend, StackLock


@pytest.fixture
def backend(tmp_path):
    return FileLockBackend(str(tmp_path / "web.lock"))


def test_second_taker_fails_at_once_naming_the_holder(backend):
    with StackLock(backend, "web", "apply"):
        start = time.monotonic()
        with pytest.raises(LockError) as info:
            with StackLock(backend, "web", "destroy"):
                pass
        assert time.monotonic() - start < 1
    message = str(info.value)
    assert "stack 'web' is locked by" in message and "(apply)" in message and "pid" in message
    assert "iacorch unlock" in message and "--lock-timeout" in message


def test_waiting_taker_gets_the_lock_when_it_is_released(backend):
    got = threading.Event()

    def second():
        with StackLock(backend, "web", "apply", wait=10, poll=0.05):
            got.set()

    with StackLock(backend, "web", "apply"):
        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.3)
        assert not got.is_set()
    t.join(5)
    assert got.is_set()


def test_a_dead_holder_stops_renewing_and_its_lock_lapses(backend):
    dead = StackLock(backend, "web", "apply", ttl=0.5)
    dead.__enter__()
    dead._stop.set()  # the process "crashed": no more heartbeats, never released
    time.sleep(0.7)
    with StackLock(backend, "web", "apply"):
        assert backend.read().operation == "apply"


def test_heartbeat_keeps_a_long_apply_locked(backend):
    with StackLock(backend, "web", "apply", ttl=0.3):
        time.sleep(1.0)  # three TTLs
        with pytest.raises(LockError):
            with StackLock(backend, "web", "apply"):
                pass


def test_force_unlock_removes_any_holder(backend):
    holder = StackLock(backend, "web", "apply")
    holder.__enter__()
    removed = backend.delete(None)
    assert removed is not None and removed.operation == "apply"
    with StackLock(backend, "web", "apply"):
        pass
    holder._stop.set()


def test_release_is_by_token_only(backend):
    with StackLock(backend, "web", "apply") as mine:
        assert backend.delete("someone-else") is None
        assert backend.read().token == mine.record.token
    assert backend.read() is None


def test_a_lock_left_by_a_killed_process_on_this_machine_is_taken_over(backend):
    import subprocess
    import sys

    from iacorch.lock import LockRecord, who_am_i

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    owner = who_am_i().rsplit(" pid ", 1)[0] + f" pid {dead_pid}"
    now = time.time()
    backend.put_if_free(LockRecord("web", owner, "apply", "dead-token", now, now + 3600), now)
    with StackLock(backend, "web", "apply") as mine:
        assert backend.read().token == mine.record.token


def test_a_live_holder_on_this_machine_is_not_taken_over(backend):
    import os

    from iacorch.lock import LockRecord, who_am_i

    now = time.time()
    owner = who_am_i().rsplit(" pid ", 1)[0] + f" pid {os.getppid()}"
    backend.put_if_free(LockRecord("web", owner, "apply", "live-token", now, now + 3600), now)
    with pytest.raises(LockError):
        with StackLock(backend, "web", "apply"):
            pass
