"""SSH key material for local VMs: per-VM host keys, client keys and our known_hosts file.

Keys are generated with ``cryptography`` (paramiko's own dependency), in OpenSSH format.
A VM's host key is made here and copied into it before its first start, so its public
half can be pinned in a known_hosts file before we ever connect.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


@dataclass(frozen=True)
class KeyPair:
    """An ed25519 key pair: ``private`` is an OpenSSH PEM, ``public`` is ``ssh-ed25519 AAAA... COMMENT``."""

    private: bytes
    public: str

    def __repr__(self) -> str:
        return f"KeyPair({self.public!r})"

    @classmethod
    def generate(cls, comment: str = "") -> KeyPair:
        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                    serialization.NoEncryption())
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH).decode()
        return cls(private, f"{public} {comment}".strip())

    @property
    def key_type(self) -> str:
        return self.public.split()[0]

    @property
    def key_base64(self) -> str:
        return self.public.split()[1]

    @property
    def fingerprint(self) -> str:
        """``SHA256:...`` as ``ssh-keygen -lf`` prints it."""
        digest = hashlib.sha256(base64.b64decode(self.key_base64)).digest()
        return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")

    def known_hosts_line(self, name: str) -> str:
        return f"{name} {self.key_type} {self.key_base64}"

    def write_private(self, path: str | Path) -> Path:
        """Write the private key with mode 0600 (created that way, never world-readable)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(self.private)
        path.with_name(path.name + ".pub").write_text(self.public + "\n")
        return path


def load_or_create_client_key(path: str | Path, comment: str = "iacorch") -> KeyPair:
    """The client key for local VMs: reuse the file at ``path`` or create it."""
    path = Path(path)
    public_path = path.with_name(path.name + ".pub")
    if path.exists() and public_path.exists():
        return KeyPair(path.read_bytes(), public_path.read_text().strip())
    pair = KeyPair.generate(comment)
    pair.write_private(path)
    return pair


class KnownHostsFile:
    """Our own known_hosts file: one line per name, updated under a file lock."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _update(self, name: str, line: str | None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.path.with_name(self.path.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            lines = self.path.read_text().splitlines() if self.path.exists() else []
            kept = [entry for entry in lines if entry.split(" ", 1)[0] != name]
            if line is not None:
                kept.append(line)
            temporary = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
            temporary.write_text("".join(entry + "\n" for entry in kept))
            os.replace(temporary, self.path)

    def pin(self, name: str, host_key: KeyPair) -> None:
        """Record (or replace) the key expected from ``name`` (an alias or ``[HOST]:PORT``)."""
        self._update(name, host_key.known_hosts_line(name))

    def pin_public(self, name: str, public_line: str) -> None:
        """Record (or replace) ``name``'s key from an OpenSSH public key line (``TYPE BASE64 [comment]``)."""
        key_type, key_base64 = public_line.split()[:2]
        self._update(name, f"{name} {key_type} {key_base64}")

    def has(self, name: str) -> bool:
        if not self.path.exists():
            return False
        return any(line.split(" ", 1)[0] == name for line in self.path.read_text().splitlines())

    def forget(self, name: str) -> None:
        self._update(name, None)
