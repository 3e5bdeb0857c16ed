"""Images built on this machine from a service's ``build:`` directory.

The tag carries a digest of the build context, so a changed Dockerfile or
source file is a new image (and a new release), and an unchanged one is not
rebuilt or re-shipped. Hosts get it by ``docker save | docker load`` over SSH,
so no registry is needed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess

from iacorch.errors import IacorchError
from iacorch.hosts.containers import LABEL_STACK

IGNORED_DIRS = {".git", "__pycache__", ".venv", "node_modules"}


def context_digest(directory: str) -> str:
    """sha256 over every file's relative path, mode and content, in sorted order."""
    h = hashlib.sha256()
    ignore = _dockerignore(directory)
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS)
        for name in sorted(files):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, directory)
            if rel in ignore:
                continue
            h.update(rel.encode() + b"\0" + oct(os.stat(path).st_mode & 0o777).encode() + b"\0")
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 16), b""):
                    h.update(chunk)
    return h.hexdigest()[:12]


def _dockerignore(directory: str) -> set[str]:
    path = os.path.join(directory, ".dockerignore")
    if not os.path.exists(path):
        return set()
    with open(path, encoding="utf-8") as f:
        return {line.strip() for line in f if line.strip() and not line.startswith("#")}


def image_ref(stack: str, service: str, directory: str) -> str:
    return f"iacorch/{stack}-{service}:{context_digest(directory)}"


def _docker(args: list[str], *, what: str, timeout: float = 600) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["docker", *args], capture_output=True, timeout=timeout)
    except FileNotFoundError:
        raise IacorchError(f"{what}: the docker command is not installed on this machine",
                           hint="install docker.io (make demo does)") from None


def local_image_present(ref: str) -> str | None:
    done = _docker(["image", "inspect", "--format", "{{.Id}}", ref], what="docker image inspect", timeout=60)
    return done.stdout.decode().strip() if done.returncode == 0 else None


def build(stack: str, ref: str, directory: str, *, where: str) -> str:
    done = _docker(["build", "--quiet", "--label", f"{LABEL_STACK}={stack}", "--tag", ref, directory],
                   what=where)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.decode(errors="replace").strip().splitlines()[-15:])
        raise IacorchError(f"docker build of {directory} failed", where=where, details=tail,
                           hint="fix the Dockerfile; the running release is untouched")
    return done.stdout.decode().strip()


def save(ref: str) -> subprocess.Popen:
    """A ``docker save`` process whose stdout streams the image."""
    return subprocess.Popen(["docker", "save", ref], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
