"""Errors that reach the user.

Every failure the user can cause or fix is an ``IacorchError``: one message that
names where (a file:line:column, a host or a resource address) and, when we
know it, what to do. The CLI prints ``str(error)`` and exits 1; it never shows a
traceback for these. SDK and transport exceptions are translated into these at
the provider/connector boundary and never leak into the core.
"""

from __future__ import annotations


class IacorchError(Exception):
    """A failure with a message meant for people.

    ``where`` is a location such as ``stacks/web.yaml:12:5``, a host name or a
    resource address; ``hint`` says what to do about it.
    """

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None,
                 details: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint
        self.details = details

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.details:
            text += "\n" + self.details.rstrip()
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class StackError(IacorchError):
    """The stack file is malformed, mistyped or inconsistent."""


class StackErrors(StackError):
    """Several problems found in one stack file, reported together."""

    def __init__(self, errors: list[StackError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


class ProviderError(IacorchError):
    """A cloud API refused or failed a call; ``where`` names the resource."""


class HostError(IacorchError):
    """A host could not be reached, refused us, or a command on it failed."""


class LockError(IacorchError):
    """The stack lock is held by someone else."""


class PlanStaleError(IacorchError):
    """A saved plan no longer matches what exists."""
