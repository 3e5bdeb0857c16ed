"""Secret references in stacks, resolved at apply time on this machine.

A stack names where a secret lives (``env:NAME``, ``file:PATH``, ``ssm:/path``,
``secretsmanager:name``); plans, JSON and logs carry only that reference. The
value is read when a container needs it, wrapped in a ``Secret`` so every
rendering masks it, and reaches the host as a 0600 file on a tmpfs.
"""

from __future__ import annotations

import os
from typing import Callable, Mapping

from iacorch.command import Secret
from iacorch.errors import IacorchError

CloudResolver = Callable[[str, str], str]  # (scheme, reference) -> value


class SecretResolver:
    def __init__(self, base_dir: str, cloud: CloudResolver | None = None) -> None:
        self.base_dir = base_dir
        self.cloud = cloud
        self._cache: dict[str, Secret] = {}

    def resolve(self, name: str, ref: str, *, where: str) -> Secret:
        if ref in self._cache:
            return Secret(self._cache[ref].reveal(), name)
        scheme, _, rest = ref.partition(":")
        if scheme == "env":
            if rest not in os.environ:
                raise IacorchError(f"secret {name}: environment variable {rest} is not set", where=where,
                                   hint=f"export {rest}=... on the machine that runs iacorch")
            value = os.environ[rest]
        elif scheme == "file":
            path = os.path.expanduser(rest)
            path = path if os.path.isabs(path) else os.path.join(self.base_dir, path)
            try:
                with open(path, encoding="utf-8") as f:
                    value = f.read().rstrip("\n")
            except OSError as exc:
                raise IacorchError(f"secret {name}: cannot read {rest}: {exc.strerror}", where=where) from None
        elif self.cloud is not None:
            value = self.cloud(scheme, rest)
        else:
            raise IacorchError(f"secret {name}: {scheme}: references need a cloud provider that offers them",
                               where=where, hint="use env: or file: with this provider")
        secret = Secret(value, name)
        self._cache[ref] = secret
        return secret

    def resolve_all(self, refs: Mapping[str, str], *, where: str) -> dict[str, Secret]:
        return {name: self.resolve(name, ref, where=where) for name, ref in refs.items()}
