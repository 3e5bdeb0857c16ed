"""Low-level helpers of iacorch.ssh for sockets and channels (no paramiko import here:
they take the objects iacorch.ssh made)."""

from __future__ import annotations

import select
import socket
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the objects come from iacorch.ssh; only the types are named here
    import paramiko

CHUNK = 256 * 1024


def expect_banner(sock: socket.socket, timeout: float) -> None:
    """Peek for the server's first bytes: a port proxy (docker-proxy) accepts TCP and then
    closes it while sshd is not listening yet. Seen here, that is a quiet, retried EOF."""
    try:
        ready, _, _ = select.select([sock], [], [], timeout)
        if not ready:
            raise TimeoutError
        if not sock.recv(1, socket.MSG_PEEK):
            raise EOFError
    except BaseException:
        sock.close()
        raise


def settles_active(transport: paramiko.Transport, wait: float = 0.5) -> bool:
    """After a channel closed without an exit status: is the connection still up (the command
    was killed by a signal) or going down (lost)? The transport's own EOF may lag a little."""
    deadline = time.monotonic() + wait
    while transport.is_active() and time.monotonic() < deadline:
        time.sleep(0.05)
    return transport.is_active()


def collect(channel: paramiko.Channel, deadline: float) -> tuple[int, bytes, bytes]:
    out, err = bytearray(), bytearray()
    while True:
        while channel.recv_ready():
            out += channel.recv(CHUNK)
        while channel.recv_stderr_ready():
            err += channel.recv_stderr(CHUNK)
        finished = channel.closed or (channel.eof_received and channel.exit_status_ready())
        if finished and not channel.recv_ready() and not channel.recv_stderr_ready():
            return channel.recv_exit_status(), bytes(out), bytes(err)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        select.select([channel], [], [], min(remaining, 1.0))
