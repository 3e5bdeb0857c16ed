"""Jinja2 variables in stack files.

Templating is applied to each string *value* after YAML parsing, the way
Ansible does it, so every error keeps its exact file:line:column. A value that
is a single expression (``"{{ replicas }}"``) keeps the type of the variable;
anything else renders to a string. Undefined variables are errors
(StrictUndefined), never empty strings.
"""

from __future__ import annotations

from typing import Any, Mapping

import jinja2
import yaml
from jinja2.nativetypes import NativeEnvironment

from iacorch.errors import StackError
from iacorch.stack.diagnostics import format_path
from iacorch.stack.source import Path, Source

_env = NativeEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
_text_env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                               autoescape=False)


def parse_var_assignment(text: str) -> tuple[str, Any]:
    """``k=v`` from --var; the value is typed like a YAML scalar (3 -> int)."""
    if "=" not in text:
        raise StackError(f"--var {text!r}: expected NAME=VALUE")
    name, raw = text.split("=", 1)
    name = name.strip()
    if not name.isidentifier():
        raise StackError(f"--var {text!r}: {name!r} is not a valid variable name")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, (dict, list)):
        value = raw
    return name, value


def load_var_file(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as exc:
        raise StackError(f"cannot read var file: {exc.strerror}", where=path) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        raise StackError(f"malformed YAML in var file: {exc.problem}", where=where) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise StackError("a var file must be a mapping of NAME: VALUE", where=path)
    return data


def merged_vars(source: Source, var_files: list[str], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """vars: in the file < --var-file (in order) < --var."""
    file_vars = source.data.get("vars") if isinstance(source.data, dict) else None
    if file_vars is None:
        file_vars = {}
    if not isinstance(file_vars, dict):
        raise StackError("vars must be a mapping of NAME: VALUE", where=source.where(("vars",)))
    merged: dict[str, Any] = dict(file_vars)
    for path in var_files:
        merged.update(load_var_file(path))
    merged.update(overrides)
    return merged


def render(source: Source, variables: Mapping[str, Any]) -> Any:
    """Return the document with every templated string value rendered."""
    return _render(source.data, (), source, variables)


def _render(value: Any, path: Path, source: Source, variables: Mapping[str, Any]) -> Any:
    if path[:1] == ("vars",):
        return value
    if isinstance(value, dict):
        return {k: _render(v, path + (k,), source, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, path + (i,), source, variables) for i, v in enumerate(value)]
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        return _render_string(value, path, source, variables)
    return value


def _render_string(text: str, path: Path, source: Source, variables: Mapping[str, Any]) -> Any:
    single = text.strip().startswith("{{") and text.strip().endswith("}}") and text.count("{{") == 1
    env = _env if single else _text_env
    try:
        result = env.from_string(text).render(**variables)
        if isinstance(result, jinja2.Undefined):
            str(result)  # StrictUndefined raises here, naming the variable
    except jinja2.UndefinedError as exc:
        name = _undefined_name(str(exc))
        raise StackError(
            f"{format_path(path)}: undefined variable {name!r}" if name
            else f"{format_path(path)}: undefined value: {exc.message}",
            where=source.where(path),
            hint=f"define it under vars: or pass --var {name}=VALUE" if name else None) from None
    except jinja2.TemplateSyntaxError as exc:
        raise StackError(f"{format_path(path)}: template syntax error: {exc.message}", where=source.where(path)) from None
    except Exception as exc:  # a filter or expression failed: still the user's input
        raise StackError(f"{format_path(path)}: template error: {exc}", where=source.where(path)) from None
    return result


def _undefined_name(message: str) -> str | None:
    # jinja2 says: "'version' is undefined"
    if message.startswith("'") and "' is undefined" in message:
        return message[1:message.index("' is undefined")]
    return None
