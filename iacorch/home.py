"""Where iacorch keeps what belongs to this machine: generated SSH keys,
pinned host keys, local locks and event logs. ``$IACORCH_HOME`` or ~/.iacorch."""

from __future__ import annotations

import os


def home() -> str:
    return os.path.abspath(os.path.expanduser(os.environ.get("IACORCH_HOME", "~/.iacorch")))


def stack_dir(stack: str) -> str:
    path = os.path.join(home(), "stacks", stack)
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path
