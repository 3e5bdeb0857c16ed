"""Remote actions as data: commands, batched scripts and secrets. No I/O here.

A ``Command`` is an argument vector rendered with ``shlex.join``; its ``masked()``
form is what logs, plans and dry runs show. A ``Script`` batches several commands
into one shell program (one SSH round trip) that prints a delimiter line carrying
each step's exit status on stdout and stderr, so the output can be split back into
per-step results with ``Script.parse``.

Secret values never belong on a remote command line (``ps`` shows it to every user
of the host). They travel as a command's stdin: ``write_secret_file`` builds the
command that stores stdin in a 0600 file on a tmpfs. ``mask_text`` is the second
line of defence for output and error messages.
"""

from __future__ import annotations

import re
import secrets as _random
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field

from iacorch.errors import HostError

MASK = "***"
TAIL_LINES = 20
SECRET_DIR = "/run/iacorch/secrets"


class Secret:
    """A value that shows as ``***`` (or ``<secret NAME>``) everywhere except ``reveal()``."""

    __slots__ = ("_value", "name")

    def __init__(self, value: str | bytes, name: str | None = None) -> None:
        self._value = value
        self.name = name

    def reveal(self) -> str | bytes:
        return self._value

    def reveal_bytes(self) -> bytes:
        return self._value.encode() if isinstance(self._value, str) else self._value

    @property
    def masked(self) -> str:
        return f"<secret {self.name}>" if self.name else MASK

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"Secret({self.masked})"

    def __format__(self, spec: str) -> str:
        return format(self.masked, spec)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and (self.name, self._value) == (other.name, other._value)

    def __hash__(self) -> int:
        return hash((Secret, self.name, self._value))

    def __reduce__(self):  # pickling would write the value out; refuse
        raise TypeError("a Secret cannot be pickled")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict) -> Secret:
        return self


Arg = str | Secret
Stdin = bytes | Secret | None


def _reveal(arg: Arg) -> str:
    if isinstance(arg, Secret):
        value = arg.reveal()
        return value.decode() if isinstance(value, bytes) else value
    return arg


@dataclass(frozen=True)
class Command:
    """One remote action: an argv plus optional stdin data (the way secrets travel)."""

    argv: tuple[Arg, ...]
    stdin: Stdin = None

    def __post_init__(self) -> None:
        if not self.argv:
            raise ValueError("a Command needs at least one argument")
        for arg in self.argv:
            if not isinstance(arg, str | Secret):
                raise TypeError(f"Command arguments are str or Secret, not {type(arg).__name__}: {arg!r}")
        if self.stdin is not None and not isinstance(self.stdin, bytes | Secret):
            raise TypeError("Command stdin is bytes or a Secret")

    @classmethod
    def of(cls, *argv: Arg, stdin: Stdin = None) -> Command:
        return cls(tuple(argv), stdin)

    @classmethod
    def shell(cls, program: str) -> Command:
        """``sh -c PROGRAM``, for pipelines and redirections. Never interpolate secrets into it."""
        return cls(("sh", "-c", program))

    def render(self) -> str:
        """The exact command line the host runs (secrets in ``argv`` revealed)."""
        return shlex.join(_reveal(arg) for arg in self.argv)

    def masked(self) -> str:
        """The command line for logs and plans, secrets masked."""
        text = shlex.join(str(arg) for arg in self.argv)
        if isinstance(self.stdin, Secret):
            return f"{text} < {self.stdin.masked}"
        if self.stdin is not None:
            return f"{text} < ({len(self.stdin)} bytes)"
        return text

    @property
    def secrets(self) -> tuple[Secret, ...]:
        found = [arg for arg in self.argv if isinstance(arg, Secret)]
        if isinstance(self.stdin, Secret):
            found.append(self.stdin)
        return tuple(found)

    @property
    def has_secret_argv(self) -> bool:
        """True when a secret would be visible on the remote command line."""
        return any(isinstance(arg, Secret) for arg in self.argv)

    def stdin_bytes(self) -> bytes | None:
        if isinstance(self.stdin, Secret):
            return self.stdin.reveal_bytes()
        return self.stdin

    def __str__(self) -> str:
        return self.masked()


def write_file(path: str, data: bytes | Secret, mode: int = 0o644) -> Command:
    """Write stdin to ``path`` atomically with ``mode`` (parent directories created)."""
    program = ('umask 077; dir=$(dirname -- "$1"); mkdir -p -- "$dir" && tmp=$(mktemp "$1.XXXXXX") '
               '&& cat > "$tmp" && chmod "$2" "$tmp" && mv -f -- "$tmp" "$1"')
    return Command(("sh", "-c", program, "write-file", path, f"{mode:04o}"), data)


def write_secret_file(secret: Secret, path: str | None = None) -> Command:
    """Store a secret in a 0600 file on a tmpfs, sent as stdin so ``ps`` never shows it.

    The default path is ``/run/iacorch/secrets/NAME``. The command refuses (exit 3)
    when the directory is not on a tmpfs, so a secret never lands on a disk.
    """
    if path is None:
        if not secret.name or not re.fullmatch(r"[A-Za-z0-9_.-]+", secret.name):
            raise ValueError("a secret written to the default path needs a plain name ([A-Za-z0-9_.-])")
        path = f"{SECRET_DIR}/{secret.name}"
    program = ('umask 077; dir=$(dirname -- "$1"); mkdir -p -m 0700 -- "$dir" || exit 3; '
               'fs=$(stat -f -c %T -- "$dir"); '
               'if [ "$fs" != tmpfs ] && [ "$fs" != ramfs ]; then '
               'echo "refusing to write a secret to $dir: it is on $fs, not a tmpfs" >&2; exit 3; fi; '
               'tmp=$(mktemp "$1.XXXXXX") && cat > "$tmp" && chmod 0600 "$tmp" && mv -f -- "$tmp" "$1"')
    return Command(("sh", "-c", program, "write-secret", path), secret)


def mask_text(text: str, secrets: Iterable[Secret]) -> str:
    """Replace every secret value found in ``text`` by its masked form."""
    for secret in secrets:
        value = secret.reveal()
        value = value.decode(errors="replace") if isinstance(value, bytes) else value
        if value:
            text = text.replace(value, secret.masked)
    return text


# ---------------------------------------------------------------- results


class CommandFailed(HostError):
    """A command ran on a host and exited non-zero (or never finished); outputs are kept, masked."""

    def __init__(self, where: str, command: str, exit_status: int | None, stdout: str, stderr: str) -> None:
        parts = [_tail(label, text) for label, text in (("stdout", stdout), ("stderr", stderr)) if text.strip()]
        what = ("did not finish" if exit_status is None else "ended without an exit status (killed by a signal?)"
                if exit_status < 0 else f"failed with exit status {exit_status}")
        super().__init__(f"command {what}: {command}", where=where, details="\n".join(parts) or None,
                         hint="read the host's output above")
        self.command, self.exit_status, self.stdout, self.stderr = command, exit_status, stdout, stderr


def _tail(label: str, text: str) -> str:
    lines = text.rstrip().splitlines()
    shown = "\n".join("    " + line for line in lines[-TAIL_LINES:])
    return f"  {label}{f' (last {TAIL_LINES} lines)' if len(lines) > TAIL_LINES else ''}:\n{shown}"


@dataclass(frozen=True)
class CommandResult:
    """One command's outcome on a host; outputs already masked."""

    host: str
    command: str  # masked
    exit_status: int
    stdout: str
    stderr: str
    duration: float

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def check(self) -> CommandResult:
        """Return self, or raise ``CommandFailed`` naming the host, the command and the output's tail."""
        if not self.ok:
            raise CommandFailed(self.host, self.command, self.exit_status, self.stdout, self.stderr)
        return self


# ---------------------------------------------------------------- scripts


@dataclass(frozen=True)
class StepResult:
    """One step of a script: ``exit_status`` is None when the step never ran (or never finished)."""

    command: str  # masked
    exit_status: int | None
    stdout: str = ""
    stderr: str = ""

    @property
    def ran(self) -> bool:
        return self.exit_status is not None

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


@dataclass(frozen=True)
class ScriptResult:
    steps: tuple[StepResult, ...]
    exit_status: int
    leftover_stdout: str = ""  # output after the last delimiter (an interrupted step)
    leftover_stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_status == 0 and all(step.ok for step in self.steps)

    @property
    def failed(self) -> StepResult | None:
        """The first step that failed or did not finish."""
        return next((step for step in self.steps if not step.ok), None)

    def __getitem__(self, index: int) -> StepResult:
        return self.steps[index]

    def check(self, host: str) -> ScriptResult:
        """Return self, or raise ``CommandFailed`` for the first step that failed or did not finish."""
        step = self.failed
        if step is not None:
            raise CommandFailed(host, step.command, step.exit_status, step.stdout, step.stderr)
        if self.exit_status != 0:
            raise CommandFailed(host, "(after the last step)", self.exit_status, self.leftover_stdout,
                                self.leftover_stderr)
        return self


_MARK = re.compile(rb"\n@@iacorch-step ([0-9a-f]+) (\d+) (\d+)@@\n")


def _new_token() -> str:
    return _random.token_hex(8)


@dataclass(frozen=True)
class Script:
    """Several commands in one round trip, with per-step exit statuses and outputs.

    ``stop_on_failure=True`` stops at the first failing step (later steps report
    ``exit_status=None``); ``False`` runs every step. Steps may not carry stdin: a
    command with stdin (a secret, an upload) runs on its own.
    """

    steps: tuple[Command, ...]
    stop_on_failure: bool = True
    token: str = field(default_factory=_new_token)

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError("a Script needs at least one step")
        if not re.fullmatch(r"[0-9a-f]+", self.token):
            raise ValueError("a Script token is lowercase hex")
        for step in self.steps:
            if not isinstance(step, Command):
                raise TypeError(f"Script steps are Commands, not {type(step).__name__}")
            if step.stdin is not None:
                raise ValueError(f"a step with stdin cannot be batched: {step.masked()}")

    @classmethod
    def of(cls, *steps: Command, stop_on_failure: bool = True) -> Script:
        return cls(tuple(steps), stop_on_failure)

    def _program(self, line_of) -> str:
        lines = []
        for index, step in enumerate(self.steps):
            mark = f"@@iacorch-step {self.token} {index} %d@@"
            lines.append(f"{line_of(step)} </dev/null; s=$?; "
                         f"printf '\\n{mark}\\n' \"$s\"; printf '\\n{mark}\\n' \"$s\" >&2")
            if self.stop_on_failure:
                lines.append('[ "$s" -eq 0 ] || exit "$s"')
            else:
                lines.append('[ "$s" -eq 0 ] || [ -n "${rc:-}" ] || rc=$s')
        lines.append('exit "${rc:-0}"' if not self.stop_on_failure else "exit 0")
        return "\n".join(lines)

    def render(self) -> str:
        return self._program(Command.render)

    def masked(self) -> str:
        return self._program(Command.masked)

    def summary(self) -> str:
        """A short masked description for messages: the steps joined with ``;``."""
        return "; ".join(step.masked() for step in self.steps)

    @property
    def secrets(self) -> tuple[Secret, ...]:
        return tuple(secret for step in self.steps for secret in step.secrets)

    @property
    def has_secret_argv(self) -> bool:
        return any(step.has_secret_argv for step in self.steps)

    def parse(self, stdout: bytes, stderr: bytes, exit_status: int) -> ScriptResult:
        """Split the script's outputs into one ``StepResult`` per step."""
        outs, out_rest = self._split(stdout)
        errs, err_rest = self._split(stderr)
        results = []
        for index, step in enumerate(self.steps):
            status, out = outs.get(index, (None, b""))
            _, err = errs.get(index, (None, b""))
            results.append(StepResult(step.masked(), status, out.decode(errors="replace"),
                                      err.decode(errors="replace")))
        return ScriptResult(tuple(results), exit_status, out_rest.decode(errors="replace"),
                            err_rest.decode(errors="replace"))

    def _split(self, data: bytes) -> tuple[dict[int, tuple[int, bytes]], bytes]:
        parts: dict[int, tuple[int, bytes]] = {}
        start = 0
        data = b"\n" + data  # so a step with no output still has the leading newline
        for match in _MARK.finditer(data):
            if match.group(1).decode() != self.token:
                continue
            index, status = int(match.group(2)), int(match.group(3))
            parts[index] = (status, data[start:match.start()][1:] if start == 0 else data[start:match.start()])
            start = match.end()
        rest = data[start:]
        return parts, rest[1:] if start == 0 else rest

