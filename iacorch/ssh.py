"""SSH to hosts: one verified connection per host, many channels on it.

This is the only module that imports paramiko. Its exceptions never leave here:
every failure a user can hit becomes a ``HostError`` that names the host and what to
do (``HostUnreachable`` for connection trouble, ``CommandFailed`` for a non-zero exit).

Host keys are verified strictly against our own known_hosts file (``RejectPolicy``);
trust on first use only happens with ``SshPool(trust_on_first_use=True)``, and then
with a loud warning naming the host and the fingerprint recorded. Commands are logged
only in masked form, and secret values are refused on a command line.
"""

from __future__ import annotations

import logging
import os
import select
import shlex
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, Self, overload

import paramiko

from iacorch.command import (
    Command,
    CommandFailed,  # noqa: F401 - raised from here; callers may import it from this module
    CommandResult,
    Script,
    ScriptResult,
    Secret,
    mask_text,
    write_file,
    write_secret_file,
)
from iacorch.errors import HostError
from iacorch.ssh_io import CHUNK, collect, expect_banner, settles_active

log = logging.getLogger("iacorch.ssh")
# paramiko logs handshake failures (e.g. while polling a booting host) with tracebacks;
# without this, Python's last-resort handler would print them when the app has no logging set up.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


def as_root(address: "HostAddress", program: str) -> str:
    """Host actions need root: a non-root login (``admin`` on Debian cloud images) goes through
    ``sudo -n`` (no password prompt: it fails clearly instead of hanging)."""
    if address.user == "root":
        return program
    return f"sudo -n -- sh -c {shlex.quote(program)}"


class HostUnreachable(HostError):
    """The host could not be reached (refused, timed out, name unknown, connection lost)."""


@dataclass(frozen=True)
class HostAddress:
    """Where a host is and how to log in. ``name`` is what messages show (``group.app[1]``)."""

    name: str
    host: str
    port: int = 22
    user: str = "root"
    key_path: str | None = None
    known_hosts: str | None = None  # default: ~/.ssh/known_hosts
    jump: HostAddress | None = None  # a bastion reached first (ProxyJump)
    host_key_alias: str | None = None  # the name its key is filed under in known_hosts

    @property
    def known_hosts_name(self) -> str:
        """The name looked up in known_hosts, as OpenSSH does: alias, HOST or [HOST]:PORT."""
        if self.host_key_alias:
            return self.host_key_alias
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    @property
    def known_hosts_path(self) -> str:
        return os.path.expanduser(self.known_hosts or "~/.ssh/known_hosts")

    def describe(self) -> str:
        via = f" via {self.jump.name}" if self.jump else ""
        return f"{self.user}@{self.host}:{self.port}{via}"


# ---------------------------------------------------------------- host key policies


class _UnknownHostKey(paramiko.SSHException):
    def __init__(self, name: str, key: paramiko.PKey) -> None:
        super().__init__(f"unknown host key for {name}")
        self.name, self.key = name, key


class _RefuseUnknownHostKey(paramiko.RejectPolicy):
    """RejectPolicy that keeps the presented key, so the message can show its fingerprint."""

    def missing_host_key(self, client, hostname, key):
        raise _UnknownHostKey(hostname, key)


class _RecordNewHostKey(paramiko.MissingHostKeyPolicy):
    """Trust on first use: record the key in our known_hosts and say so loudly."""

    def __init__(self, address: HostAddress, lock: threading.Lock) -> None:
        self.address, self.lock = address, lock

    def missing_host_key(self, client, hostname, key):
        path = self.address.known_hosts_path
        with self.lock:
            os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
            with open(path, "a") as handle:
                handle.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        client.get_host_keys().add(hostname, key.get_name(), key)
        log.warning("TRUST ON FIRST USE: %s (%s) presented an unknown %s host key %s; recorded it as %r "
                    "in %s. Check this fingerprint against the host's console before trusting it further.",
                    self.address.name, self.address.describe(), key.get_name(), key.fingerprint, hostname, path)


# ---------------------------------------------------------------- the pool


class SshPool:
    """Thread-safe: one SSH connection per ``HostAddress``, concurrent channels on it."""

    def __init__(self, *, connect_timeout: float = 10.0, command_timeout: float = 600.0, retries: int = 4,
                 max_channels: int = 8, trust_on_first_use: bool = False, ready_timeout: float = 300.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.connect_timeout, self.command_timeout = connect_timeout, command_timeout
        # how long ``wait_ready`` waits by default: a new instance boots before sshd answers
        self.ready_timeout = ready_timeout
        self.retries, self.max_channels, self.trust_on_first_use = retries, max_channels, trust_on_first_use
        self._sleep = sleep
        self._lock, self._known_hosts_lock = threading.Lock(), threading.Lock()
        self._clients: dict[HostAddress, paramiko.SSHClient] = {}
        self._host_locks: dict[HostAddress, threading.Lock] = {}
        self._channels: dict[HostAddress, threading.BoundedSemaphore] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---------------------------------------------------------------- public API

    @overload
    def run(self, address: HostAddress, action: Script, *, stdin: None = None,
            timeout: float | None = None, check: bool = True) -> ScriptResult: ...

    @overload
    def run(self, address: HostAddress, action: Command, *, stdin: bytes | Secret | BinaryIO | None = None,
            timeout: float | None = None, check: bool = True) -> CommandResult: ...

    def run(self, address, action, *, stdin=None, timeout=None, check=True):
        """Run a Command (stdin: bytes, a Secret or a binary file-like) or a Script in one round trip.

        With ``check``, a non-zero exit raises ``CommandFailed`` with the masked command and the
        tail of the host's output; ``timeout`` bounds the whole command (default ``command_timeout``).
        """
        if action.has_secret_argv:
            raise ValueError(f"refusing to put a secret on {address.name}'s command line (ps shows it): "
                             f"{action.masked() if isinstance(action, Command) else action.summary()}; "
                             "send it as stdin (iacorch.command.write_secret_file)")
        if isinstance(action, Script):
            if stdin is not None:
                raise ValueError("a Script takes no stdin")
            status, out, err, _ = self._exec(address, action.render(), action.summary(), None, timeout,
                                             action.secrets)
            result = action.parse(out, err, status)
            return result.check(address.name) if check else result
        if stdin is None:
            stdin = action.stdin
        secrets = action.secrets + ((stdin,) if isinstance(stdin, Secret) else ())
        status, out, err, duration = self._exec(address, action.render(), action.masked(), stdin, timeout, secrets)
        result = CommandResult(address.name, action.masked(), status, mask_text(out.decode(errors="replace"), secrets),
                               mask_text(err.decode(errors="replace"), secrets), duration)
        return result.check() if check else result

    def upload(self, address: HostAddress, data: bytes, path: str, mode: int = 0o644,
               timeout: float | None = None) -> None:
        """Write ``data`` to ``path`` on the host (atomically, parents created) with ``mode``."""
        self.run(address, write_file(path, data, mode), timeout=timeout)

    def put_secret(self, address: HostAddress, secret: Secret, path: str | None = None) -> str:
        """Store a secret in a 0600 file on the host's tmpfs, through stdin. Returns the path."""
        command = write_secret_file(secret, path)
        self.run(address, command)
        return command.argv[-1]

    def stream(self, address: HostAddress, command: Command, source: BinaryIO,
               timeout: float | None = None, check: bool = True) -> CommandResult:
        """Feed a file-like (e.g. ``docker save``'s stdout) into a remote command's stdin in chunks."""
        return self.run(address, command, stdin=source, timeout=timeout, check=check)

    def follow(self, address: HostAddress, command: Command, on_line: Callable[[str], None],
               stop: threading.Event) -> None:
        """Run a long-lived command (``docker events``) on its own channel and hand each line of
        its output to ``on_line`` until it ends or ``stop`` is set; ``HostUnreachable`` if the
        connection goes."""
        channel = self._open_channel(address)
        pending = b""
        try:
            channel.exec_command(as_root(address, command.render()))
            channel.shutdown_write()
            while not stop.is_set():
                if channel.recv_ready():
                    data = channel.recv(CHUNK)
                    if not data:
                        break
                    *lines, pending = (pending + data).split(b"\n")
                    for line in lines:
                        on_line(line.decode(errors="replace"))
                elif channel.closed or channel.exit_status_ready():
                    break
                else:
                    select.select([channel], [], [], 0.5)
        except (paramiko.SSHException, OSError, EOFError) as error:
            self._drop(address, channel.get_transport())
            raise HostUnreachable(f"lost {address.describe()} while following {command.masked()}: {error}",
                                  where=address.name, hint="check the host") from None
        finally:
            channel.close()

    def wait_ready(self, address: HostAddress, timeout: float | None = None) -> float:
        """Wait until an SSH login on the host works (a real handshake, not a TCP connect), for
        ``timeout`` seconds (default ``ready_timeout``).

        Returns the seconds waited. Host key and auth failures are raised at once.
        """
        timeout = self.ready_timeout if timeout is None else timeout
        started = time.monotonic()
        deadline = started + timeout
        while True:
            try:
                self.run(address, Command.of("true"), timeout=max(1.0, deadline - time.monotonic()))
                return time.monotonic() - started
            except HostUnreachable as error:
                if time.monotonic() >= deadline:
                    raise HostUnreachable(f"not ready after {timeout:.0f}s: {error.message}", where=address.name,
                                          hint=error.hint) from None
                self._sleep(0.2)

    def forget(self, address: HostAddress) -> None:
        """Close the connection to one host (the next call reconnects)."""
        with self._lock:
            client = self._clients.pop(address, None)
        if client:
            client.close()

    def _drop(self, address: HostAddress, transport: paramiko.Transport | None) -> None:
        """Forget a connection found dead, unless another thread already replaced it."""
        with self._lock:
            client = self._clients.get(address)
            if client is None or client.get_transport() is not transport:
                return
            del self._clients[address]
        client.close()

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    # ---------------------------------------------------------------- connections

    def _host_lock(self, address: HostAddress) -> threading.Lock:
        with self._lock:
            self._channels.setdefault(address, threading.BoundedSemaphore(self.max_channels))
            return self._host_locks.setdefault(address, threading.Lock())

    def _client(self, address: HostAddress) -> paramiko.SSHClient:
        with self._host_lock(address):
            client = self._clients.get(address)
            transport = client.get_transport() if client else None
            if transport is not None and transport.is_active():
                return client
            if client is not None:
                client.close()
            client = self._dial_with_retries(address)
            with self._lock:
                self._clients[address] = client
            return client

    def _dial_with_retries(self, address: HostAddress) -> paramiko.SSHClient:
        delay = 0.25
        for attempt in range(1, self.retries + 1):
            try:
                return self._dial(address)
            except HostUnreachable as error:
                if attempt == self.retries:
                    raise
                log.debug("%s: %s; retry %d/%d in %.2fs", address.name, error.message, attempt,
                          self.retries - 1, delay)
                self._sleep(delay)
                delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")

    def _dial(self, address: HostAddress) -> paramiko.SSHClient:
        key = self._load_key(address)
        sock = self._open_socket(address)
        client = paramiko.SSHClient()
        path = address.known_hosts_path
        if os.path.exists(path):
            try:
                client.get_host_keys().load(path)
            except (OSError, paramiko.SSHException) as error:
                sock.close()
                raise HostError(f"cannot read known_hosts file {path}: {error}", where=address.name,
                                hint="fix or remove the malformed line") from None
        client.set_missing_host_key_policy(_RecordNewHostKey(address, self._known_hosts_lock)
                                           if self.trust_on_first_use else _RefuseUnknownHostKey())
        lookup = address.known_hosts_name
        try:
            client.connect(lookup, port=22, username=address.user, pkey=key, sock=sock,
                           timeout=self.connect_timeout, banner_timeout=self.connect_timeout,
                           auth_timeout=self.connect_timeout, allow_agent=False, look_for_keys=False)
            client.get_transport().set_keepalive(15)
            return client
        except (paramiko.SSHException, OSError, EOFError) as error:
            client.close()
            sock.close()
            raise self._connect_error(address, error) from None

    def _open_socket(self, address: HostAddress):
        if address.jump is None:
            try:
                sock = socket.create_connection((address.host, address.port), timeout=self.connect_timeout)
                expect_banner(sock, self.connect_timeout)
                return sock
            except socket.gaierror as error:
                raise HostError(f"cannot resolve {address.host!r}: {error.strerror}", where=address.name,
                                hint="check the host name in the stack or inventory") from None
            except (OSError, EOFError) as error:
                raise self._connect_error(address, error) from None
        try:
            bastion = self._client(address.jump).get_transport()
        except HostError as error:
            raise type(error)(f"bastion {address.jump.name} failed: {error.message}", where=address.name,
                              hint=error.hint) from None
        try:
            return bastion.open_channel("direct-tcpip", (address.host, address.port), ("127.0.0.1", 0),
                                        timeout=self.connect_timeout)
        except (paramiko.SSHException, OSError, EOFError) as error:
            reason = getattr(error, "text", None) or str(error) or type(error).__name__
            raise HostUnreachable(f"bastion {address.jump.name} could not open a connection to "
                                  f"{address.host}:{address.port}: {reason}", where=address.name,
                                  hint="check that the host is up and its sshd listens, and that the "
                                       "bastion can reach it") from None

    def _load_key(self, address: HostAddress) -> paramiko.PKey | None:
        if address.key_path is None:
            return None
        path = os.path.expanduser(address.key_path)
        try:
            return paramiko.PKey.from_path(path)
        except FileNotFoundError:
            raise HostError(f"SSH key file {path} does not exist", where=address.name,
                            hint="set the right key path (launch template ssh.key) or create the key") from None
        except paramiko.PasswordRequiredException:
            raise HostError(f"SSH key {path} is protected by a passphrase", where=address.name,
                            hint="use an unencrypted deploy key for automation") from None
        except (paramiko.SSHException, ValueError, OSError) as error:
            raise HostError(f"cannot read SSH key {path}: {error}", where=address.name,
                            hint="use an OpenSSH ed25519 or RSA private key file") from None

    def _connect_error(self, address: HostAddress, error: BaseException) -> HostError:
        where, target = address.name, address.describe()
        if isinstance(error, HostError):
            return error
        if isinstance(error, paramiko.BadHostKeyException):
            return HostError(
                f"host key mismatch for {target}: known_hosts entry {address.known_hosts_name!r} expects "
                f"{error.expected_key.get_name()} {error.expected_key.fingerprint}, the host presented "
                f"{error.key.get_name()} {error.key.fingerprint}; refusing to connect", where=where,
                hint=f"if the host was rebuilt, check the new fingerprint on its console, then replace its line: "
                     f"ssh-keygen -R '{address.known_hosts_name}' -f {address.known_hosts_path}; "
                     "otherwise someone may be intercepting the connection")
        if isinstance(error, _UnknownHostKey):
            return HostError(
                f"unknown host key for {target}: {address.known_hosts_name!r} is not in "
                f"{address.known_hosts_path}; it presented {error.key.get_name()} {error.key.fingerprint}; "
                "refusing to connect", where=where,
                hint="check the fingerprint on the host's console and add its key to that known_hosts file, "
                     "or allow trust on first use explicitly (SshPool(trust_on_first_use=True))")
        if isinstance(error, paramiko.AuthenticationException):
            return HostError(f"{target} refused authentication for user {address.user!r} with key "
                             f"{address.key_path or '(none)'}", where=where,
                             hint="check that the key's public half is in the user's authorized_keys "
                                  "and that the user name is right")
        reason = {ConnectionRefusedError: "connection refused", ConnectionResetError: "connection reset",
                  EOFError: "it closed the connection before sshd answered"}.get(type(error))
        if reason is None and isinstance(error, socket.timeout | TimeoutError):
            reason = f"no answer within {self.connect_timeout:.0f}s"
        if reason is None:
            reason = str(error) or type(error).__name__
        return HostUnreachable(f"cannot reach {target}: {reason}", where=where,
                               hint="check that the host is running and sshd listens on that port "
                                    "(a booting host answers after a few seconds)")

    # ---------------------------------------------------------------- running

    def _open_channel(self, address: HostAddress) -> paramiko.Channel:
        for attempt in (1, 2):
            transport = self._client(address).get_transport()
            try:
                return transport.open_session(timeout=self.connect_timeout)
            except paramiko.ChannelException as error:  # sshd said no; the connection itself is fine
                raise HostError(f"{address.describe()} refused a new session: {error.text}", where=address.name,
                                hint="lower SshPool(max_channels=...) or raise MaxSessions in sshd_config") from None
            except (paramiko.SSHException, OSError, EOFError) as error:
                self._drop(address, transport)  # dead: nothing ran yet, so reconnecting is safe
                if attempt == 2:
                    raise HostUnreachable(f"cannot open a session on {address.describe()}: {error}",
                                          where=address.name, hint="check the host's sshd (MaxSessions, load)")
        raise AssertionError("unreachable")

    def _exec(self, address: HostAddress, program: str, masked: str, stdin, timeout: float | None,
              secrets: tuple[Secret, ...]) -> tuple[int, bytes, bytes, float]:
        timeout, masked = timeout or self.command_timeout, mask_text(masked, secrets)
        log.debug("%s: $ %s", address.name, masked)
        self._host_lock(address)
        with self._channels[address]:
            channel = self._open_channel(address)
            started, writer, lost = time.monotonic(), None, None
            try:
                channel.exec_command(as_root(address, program))
                if stdin is None:
                    channel.shutdown_write()
                else:
                    writer = _StdinWriter(channel, stdin)
                    writer.start()
                status, out, err = collect(channel, started + timeout)
                if status == -1 and not settles_active(channel.get_transport()):
                    lost = "the connection dropped"
            except TimeoutError:
                raise HostError(f"timed out after {timeout:.0f}s: {masked}", where=address.name,
                                hint="the command may still be running on the host; raise the timeout "
                                     "or look at the host") from None
            except (paramiko.SSHException, OSError, EOFError) as error:
                lost = str(error) or type(error).__name__
            finally:
                channel.close()
                if writer is not None:
                    writer.join(timeout=5)
        if lost is not None:
            self._drop(address, channel.get_transport())
            raise HostUnreachable(f"connection to {address.describe()} lost while running {masked} ({lost}); "
                                  "it may or may not have finished", where=address.name,
                                  hint="check the host, then retry")
        duration = time.monotonic() - started
        if writer is not None and writer.error is not None and status == 0:
            raise HostError(f"sending stdin failed: {writer.error}", where=address.name)
        log.debug("%s: exit %d in %.3fs", address.name, status, duration)
        return status, out, err, duration


class _StdinWriter(threading.Thread):
    """Pumps bytes, a Secret or a file-like into a channel in chunks, then sends EOF."""

    def __init__(self, channel: paramiko.Channel, source) -> None:
        super().__init__(daemon=True, name="ssh-stdin")
        self.channel, self.error = channel, None
        self.source = source.reveal_bytes() if isinstance(source, Secret) else source

    def run(self) -> None:
        try:
            if isinstance(self.source, bytes | bytearray | memoryview):
                self.channel.sendall(self.source)
            else:
                while chunk := self.source.read(CHUNK):
                    self.channel.sendall(chunk)
            self.channel.shutdown_write()
        except (OSError, EOFError, paramiko.SSHException) as error:
            self.error = error  # the remote stopped reading; its exit status tells why
