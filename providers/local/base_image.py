"""The VM base image: a Debian root built once with debootstrap and imported into Docker.

The recipe lives in ``templates/vm/`` (``recipe.json``, the sshd snippet and the script
run in the chroot). The image is tagged with a hash of those files, so a changed
recipe builds a new image and an unchanged one is reused. A file lock keeps parallel
test workers (or two applies) from building it twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from iacorch.errors import ProviderError
from providers.local.docker_cli import ENGINE, DockerCli

log = logging.getLogger("iacorch.local.image")

IMAGE_REPOSITORY = "iacorch/vm-base"
LOCK_DIR = Path(os.environ.get("IACORCH_LOCK_DIR", "/var/tmp"))


@dataclass(frozen=True)
class Recipe:
    """The files in ``templates/vm`` and the parsed ``recipe.json``."""

    files: dict[str, bytes]

    @classmethod
    def load(cls) -> Recipe:
        folder = resources.files("templates") / "vm"
        files = {entry.name: entry.read_bytes() for entry in folder.iterdir()
                 if entry.is_file() and not entry.name.startswith(".")}
        if "recipe.json" not in files:
            raise ProviderError("templates/vm/recipe.json is missing", where="templates/vm",
                                hint="reinstall iacorch; the VM recipe ships inside the package")
        return cls(files)

    @property
    def spec(self) -> dict:
        return json.loads(self.files["recipe.json"])

    @property
    def digest(self) -> str:
        sha = hashlib.sha256()
        for name in sorted(self.files):
            sha.update(name.encode() + b"\0" + self.files[name] + b"\0")
        return sha.hexdigest()[:16]

    @property
    def tag(self) -> str:
        return f"{IMAGE_REPOSITORY}:{self.digest}"


def image_exists(docker: DockerCli, tag: str) -> bool:
    return docker.run(["image", "inspect", "--format", "{{.Id}}", tag], check=False).returncode == 0


@contextlib.contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_base_image(docker: DockerCli | None = None, recipe: Recipe | None = None) -> str:
    """Return the base image tag, building it first if no image with that tag exists."""
    docker = docker or DockerCli()
    recipe = recipe or Recipe.load()
    tag = recipe.tag
    if image_exists(docker, tag):
        return tag
    with _file_lock(LOCK_DIR / f"iacorch-vm-base-{recipe.digest}.lock"):
        if image_exists(docker, tag):  # another worker built it while we waited
            return tag
        started = time.monotonic()
        build_base_image(docker, recipe)
        log.info("built VM base image %s in %.1fs", tag, time.monotonic() - started)
    return tag


def _debootstrap_argv(spec: dict, rootfs: Path) -> list[str]:
    return ["debootstrap", f"--variant={spec['variant']}", "--include=" + ",".join(spec["include"]),
            spec["suite"], str(rootfs), spec["mirror"]]


def _run_build_step(argv: list[str], what: str, *, input: bytes | None = None, timeout: float = 900) -> None:
    try:
        done = subprocess.run(argv, input=input, capture_output=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise ProviderError(f"`{argv[0]}` is not installed; it is needed to build the VM base image",
                            where=ENGINE, hint=f"apt-get install -y {argv[0]}") from None
    except subprocess.TimeoutExpired:
        raise ProviderError(f"{what} took longer than {timeout:.0f}s", where=ENGINE,
                            hint="check the network path to the Debian mirror") from None
    if done.returncode != 0:
        output = (done.stdout + done.stderr).decode(errors="replace").strip().splitlines()
        raise ProviderError(f"{what} failed (exit {done.returncode})", where=ENGINE,
                            details="\n".join(output[-15:]),
                            hint="fix the cause above; the build starts over on the next run")


def build_base_image(docker: DockerCli, recipe: Recipe) -> None:
    """debootstrap + the recipe's chroot script + ``docker import``; needs root."""
    spec = recipe.spec
    workdir = Path(tempfile.mkdtemp(prefix="iacorch-rootfs-", dir="/var/tmp"))
    rootfs = workdir / "rootfs"
    try:
        _run_build_step(_debootstrap_argv(spec, rootfs), "debootstrap of the VM base image")
        for target, source in spec.get("files", {}).items():
            destination = rootfs / target.lstrip("/")
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(recipe.files[source])
            destination.chmod(0o644)
        _run_build_step(["chroot", str(rootfs), "/bin/sh", "-s"], "the VM recipe's prepare script",
                        input=recipe.files[spec["prepare"]])
        _import_rootfs(docker, rootfs, recipe)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _import_rootfs(docker: DockerCli, rootfs: Path, recipe: Recipe) -> None:
    tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    changes = ["--change", 'CMD ["/lib/systemd/systemd"]', "--change", "ENV container=docker",
               "--change", f"LABEL iacorch.recipe={recipe.digest} iacorch.kind=vm-image"]
    importer = docker.popen(["import", *changes, "-", recipe.tag], stdin=tar.stdout)
    assert tar.stdout is not None
    tar.stdout.close()  # the importer holds the pipe now
    _, stderr = importer.communicate(timeout=600)
    tar.wait(timeout=60)
    if importer.returncode != 0 or tar.returncode != 0:
        raise docker.failure(["import", "-", recipe.tag], stderr.decode(errors="replace"))
