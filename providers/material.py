"""What launch/instance templates read from the user's machine (SSH public keys and
user data), identified by hashes that go into the plan, and checked against
those hashes when a step runs, so a saved plan never applies other material.
Pure: shared by every cloud provider."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from iacorch.errors import ProviderError


def public_key_sha256(public_key_line: str) -> str:
    """Identity of an OpenSSH public key: sha256 of its type and blob (not the comment)."""
    return hashlib.sha256(" ".join(public_key_line.split()[:2]).encode()).hexdigest()


def user_data_sha256(text: str | None) -> str | None:
    return hashlib.sha256(text.encode()).hexdigest() if text else None


class TemplateMaterial:
    """Each template's public key line and user data, handed out only when they still match the plan."""

    def __init__(self, public_keys: Mapping[str, str], user_data: Mapping[str, str | None]) -> None:
        self.public_keys = dict(public_keys)
        self.user_datas = dict(user_data)

    def public_key(self, template: str, expect_sha: str) -> str:
        line = self.public_keys[template]
        if public_key_sha256(line) != expect_sha:
            raise ProviderError("the SSH public key changed since the plan was made", hint="make a new plan")
        return line

    def user_data(self, template: str, expect_sha: str | None) -> str | None:
        text = self.user_datas.get(template)
        if user_data_sha256(text) != expect_sha:
            raise ProviderError("the user data changed since the plan was made", hint="make a new plan")
        return text
