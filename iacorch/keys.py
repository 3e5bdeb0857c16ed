"""SSH key material: ed25519 key pairs (client keys, and host keys iacorch makes for
the VMs it creates, so their public half is pinned before the first connection),
and the client key of each launch template: the user's file, or one iacorch
generates once per stack (like kind does for its clusters). Keys are made with
``cryptography`` (paramiko's own dependency), in OpenSSH format."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from iacorch.errors import IacorchError
from iacorch.home import stack_dir
from iacorch.stack.load import StackFile


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


def generated_key_path(stack: str) -> str:
    return os.path.join(stack_dir(stack), "id_ed25519")


_generating = threading.Lock()


def ensure_generated_key(stack: str) -> str:
    """The stack's generated key, made once: under a lock (threads and processes), so VMs
    created in parallel all trust the same key."""
    path = generated_key_path(stack)
    if os.path.exists(path) and os.path.exists(path + ".pub"):
        return path
    with _generating, open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        load_or_create_client_key(path, comment=f"iacorch-{stack}")
    return path


def private_key_path(sf: StackFile, template: str) -> str:
    key = sf.stack.launch_templates[template].ssh.key
    return sf.resolve(key) if key else ensure_generated_key(sf.stack.stack)


def public_key_line(sf: StackFile, template: str) -> str:
    """The OpenSSH public key line for a template's private key."""
    path = private_key_path(sf, template)
    pub = path + ".pub"
    if os.path.exists(pub):
        with open(pub, encoding="utf-8") as f:
            line = f.read().strip()
        if line:
            return line
    try:
        with open(path, "rb") as f:
            key = serialization.load_ssh_private_key(f.read(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise IacorchError(f"cannot read the SSH key {path}: {exc}",
                           where=sf.where("launch_templates", template, "ssh", "key"),
                           hint="give an unencrypted OpenSSH private key, with its .pub next to it") from None
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH).decode()


def public_keys(sf: StackFile) -> dict[str, str]:
    return {name: public_key_line(sf, name) for name in sf.stack.launch_templates}
