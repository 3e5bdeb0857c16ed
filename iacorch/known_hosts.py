"""Our own known_hosts files: one line per name (an alias such as a VM or instance
id, or ``[HOST]:PORT``), rewritten atomically under a file lock."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


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

    def pin(self, name: str, host_key) -> None:
        """Record (or replace) the key expected from ``name``; ``host_key`` has ``known_hosts_line``."""
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
