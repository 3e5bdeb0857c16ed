"""The SSH client key of each launch template: the user's file, or one iacorch
generates once per stack (like kind does for its clusters)."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from iacorch.errors import IacorchError
from iacorch.home import stack_dir
from iacorch.stack.load import StackFile


def generated_key_path(stack: str) -> str:
    return os.path.join(stack_dir(stack), "id_ed25519")


def ensure_generated_key(stack: str) -> str:
    path = generated_key_path(stack)
    if not os.path.exists(path):
        key = ed25519.Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
        pub = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                            serialization.PublicFormat.OpenSSH)
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        with open(path + ".pub", "wb") as f:
            f.write(pub + f" iacorch-{stack}\n".encode())
        os.replace(tmp, path)
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
