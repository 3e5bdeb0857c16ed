"""load: stack file (YAML + Jinja2 vars) -> a validated, frozen Stack."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from pydantic import ValidationError

from iacorch.errors import StackError, StackErrors
from iacorch.stack.checks import check, resolve_path
from iacorch.stack.diagnostics import by_position, stack_errors
from iacorch.stack.model import Stack
from iacorch.stack.source import Source, parse
from iacorch.stack.templating import merged_vars, render


@dataclass(frozen=True)
class StackFile:
    """A loaded stack and where it came from (paths in it are relative to ``base_dir``)."""

    stack: Stack
    path: str
    base_dir: str
    variables: Mapping[str, Any] = field(default_factory=dict)
    text: str = field(default="", compare=False, repr=False)
    source: Source | None = field(default=None, compare=False, repr=False)

    def resolve(self, path: str) -> str:
        return resolve_path(path, self.base_dir)

    def where(self, *path: str | int) -> str:
        return self.source.where(tuple(path)) if self.source else self.path


def load_stack(path: str, *, var_files: list[str] | None = None,
               overrides: Mapping[str, Any] | None = None) -> StackFile:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise StackError("no such stack file", where=path) from None
    except OSError as exc:
        raise StackError(f"cannot read the stack file: {exc.strerror}", where=path) from None
    return load_text(text, path, var_files=var_files or [], overrides=overrides or {})


def load_text(text: str, filename: str, *, var_files: list[str] | None = None,
              overrides: Mapping[str, Any] | None = None, base_dir: str | None = None) -> StackFile:
    source = parse(text, filename)
    if not isinstance(source.data, dict):
        raise StackError("a stack file must be a mapping with stack:, provider: and the sections",
                         where=source.where(()))
    variables = merged_vars(source, var_files or [], overrides or {})
    data = render(source, variables)
    data = {**data, "vars": variables}
    try:
        stack = Stack.model_validate(data)
    except ValidationError as exc:
        errors = stack_errors(exc, source, Stack, data)
        raise (errors[0] if len(errors) == 1 else StackErrors(errors)) from None
    base = base_dir if base_dir is not None else os.path.dirname(os.path.abspath(filename))
    problems = sorted(check(stack, source, base), key=by_position)
    if problems:
        raise problems[0] if len(problems) == 1 else StackErrors(problems)
    return StackFile(stack=stack, path=filename, base_dir=base, variables=variables, text=text, source=source)
