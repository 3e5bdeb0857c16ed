"""SshPool.wait_ready: how long it waits is the pool's ready_timeout unless the caller says."""

from __future__ import annotations

import socket

import pytest

from iacorch.ssh import HostAddress, HostUnreachable, SshPool


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("ready_timeout, timeout, said", [(1.0, None, "not ready after 1s"),
                                                          (300.0, 2.0, "not ready after 2s")])
def test_wait_ready_gives_up_after_the_pools_ready_timeout_or_the_callers(ready_timeout, timeout, said):
    pool = SshPool(ready_timeout=ready_timeout, connect_timeout=0.5, retries=1)
    with pytest.raises(HostUnreachable) as info:
        pool.wait_ready(HostAddress("group.app[0]", "127.0.0.1", closed_port()), timeout=timeout)
    assert said in info.value.message and "connection refused" in info.value.message
    assert info.value.where == "group.app[0]"
