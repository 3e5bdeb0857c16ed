"""The local Docker engine, driven through the ``docker`` CLI with argument lists.

Every call is ``subprocess.run([...])`` with an argv list (never a shell), and every
failure a user can hit is turned into one ``ProviderError`` that says what to do.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
from collections.abc import Sequence
from typing import IO

from iacorch.errors import ProviderError

log = logging.getLogger("iacorch.local.docker")

ENGINE = "local docker engine"
START_HINT = "start the engine (systemctl start docker, or: dockerd > /tmp/dockerd.log 2>&1 &) and retry"


def _tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


class DockerCli:
    """Runs ``docker`` subcommands; stateless apart from the binary's path."""

    def __init__(self, binary: str = "docker", timeout: float = 300.0) -> None:
        self.binary = binary
        self.timeout = timeout

    def argv(self, args: Sequence[str]) -> list[str]:
        return [self.binary, *args]

    def run(self, args: Sequence[str], *, input: bytes | None = None, timeout: float | None = None,
            check: bool = True) -> subprocess.CompletedProcess[bytes]:
        """Run ``docker ARGS``; raise ``ProviderError`` on failure when ``check``."""
        argv = self.argv(args)
        log.debug("$ %s", shlex.join(argv))
        try:
            done = subprocess.run(argv, input=input, capture_output=True,
                                  timeout=timeout or self.timeout, check=False)
        except FileNotFoundError:
            raise self._missing() from None
        except subprocess.TimeoutExpired:
            raise ProviderError(f"`{shlex.join(argv[:4])} ...` took longer than {timeout or self.timeout:.0f}s",
                                where=ENGINE, hint="check `docker info` and the engine's log") from None
        if check and done.returncode != 0:
            raise self.failure(args, done.stderr.decode(errors="replace"))
        return done

    def text(self, args: Sequence[str], **kwargs) -> str:
        return self.run(args, **kwargs).stdout.decode(errors="replace")

    def popen(self, args: Sequence[str], *, stdin: IO[bytes] | int | None = None,
              stdout: IO[bytes] | int | None = subprocess.PIPE) -> subprocess.Popen[bytes]:
        """Start ``docker ARGS`` with pipes, e.g. ``docker save`` streaming to an SSH channel."""
        argv = self.argv(args)
        log.debug("$ %s", shlex.join(argv))
        try:
            return subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE)
        except FileNotFoundError:
            raise self._missing() from None

    def check_engine(self) -> str:
        """Return the engine's version, or raise one clear error when it is missing or refuses."""
        return self.text(["version", "--format", "{{.Server.Version}}"], timeout=30).strip()

    def _missing(self) -> ProviderError:
        return ProviderError(f"the `{self.binary}` command is not installed", where=ENGINE,
                             hint="install Docker (Debian: apt-get install -y docker.io), start it, and retry")

    def failure(self, args: Sequence[str], stderr: str) -> ProviderError:
        command = shlex.join(self.argv(args[:3])) + (" ..." if len(args) > 3 else "")
        lowered = stderr.lower()
        if "cannot connect to the docker daemon" in lowered or "is the docker daemon running" in lowered:
            return ProviderError("the Docker engine is not running", where=ENGINE, hint=START_HINT)
        if "permission denied" in lowered and "docker.sock" in lowered:
            return ProviderError("no permission to use the Docker engine", where=ENGINE,
                                 hint="run as root or add your user to the `docker` group")
        return ProviderError(f"`{command}` failed", where=ENGINE, details=_tail(stderr),
                             hint="see the engine's message above")

