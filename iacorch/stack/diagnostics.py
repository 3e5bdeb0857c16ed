"""Turn pydantic's validation errors into one clear line each: file:line:col,
the field path, and what was expected (with "did you mean" for unknown keys)."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, Iterable

from pydantic import BaseModel, ValidationError

from iacorch.errors import StackError
from iacorch.stack.source import Path, Source

_EXPECTED = {
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "string_type": "expected a string",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
}


def format_path(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def suggest(word: str, choices: Iterable[str]) -> str | None:
    match = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return match[0] if match else None


def stack_errors(exc: ValidationError, source: Source, root: type[BaseModel], data: Any) -> list[StackError]:
    errors: list[StackError] = []
    seen: set[tuple[str, str]] = set()
    raw = [(err, *_data_path(err["loc"], data)) for err in exc.errors(include_url=False)]
    misspelled = set()  # a missing key that an unknown sibling key probably meant
    for err, path, _ in raw:
        if err["type"] == "extra_forbidden" and (model := model_at(root, path[:-1])) is not None:
            guess = suggest(str(path[-1]), [f.alias or n for n, f in model.model_fields.items()])
            if guess:
                misspelled.add(path[:-1] + (guess,))
    for err, path, is_key in raw:
        if err["type"] == "missing" and path in misspelled:
            continue
        error = _one(err, path, is_key, source, root)
        if (error.where or "", error.message) not in seen:
            seen.add((error.where or "", error.message))
            errors.append(error)
    return sorted(errors, key=by_position)


def by_position(error: StackError) -> tuple[int, int]:
    parts = (error.where or "").rsplit(":", 2)
    try:
        return int(parts[-2]), int(parts[-1])
    except (ValueError, IndexError):
        return (0, 0)


def _data_path(loc: tuple[Any, ...], data: Any) -> tuple[Path, bool]:
    """Follow ``loc`` through the data; drop pydantic's union/validator tags."""
    path: list[str | int] = []
    node = data
    is_key = False
    for part in loc:
        if part == "[key]":
            is_key = True
            break
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and not _is_tag(part):
            path.append(part)  # a missing or extra key: keep it, it names the problem
            node = None
    return tuple(path), is_key


def _is_tag(part: str) -> bool:
    return "[" in part or part[:1].isupper() or part in ("int", "str", "float", "bool", "list", "dict")


def _one(err: dict[str, Any], path: Path, is_key: bool, source: Source, root: type[BaseModel]) -> StackError:
    kind = err["type"]
    field = format_path(path)
    if kind == "missing":
        return StackError(f"{field}: missing required key '{path[-1]}'", where=source.where(path[:-1]))
    if kind == "extra_forbidden":
        key = path[-1]
        model = model_at(root, path[:-1])
        hint = None
        if model is not None:
            names = [f.alias or name for name, f in model.model_fields.items()]
            guess = suggest(str(key), names)
            hint = f"did you mean '{guess}'?" if guess else "valid keys: " + ", ".join(sorted(names))
        return StackError(f"{field}: unknown key '{key}'", where=source.where(path, key=True), hint=hint)
    if is_key:
        message = str(err["msg"]).removeprefix("Value error, ")
        return StackError(f"{format_path(path)}: {message}", where=source.where(path, key=True))
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return StackError(f"{field}: expected {expected}, got {_show(err.get('input'))}",
                          where=source.where(path))
    if kind in _EXPECTED:
        return StackError(f"{field}: {_EXPECTED[kind]}, got {_show(err.get('input'))}", where=source.where(path))
    message = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        message = f"{message.lower()}, got {_show(err.get('input'))}"
    return StackError(f"{field}: {message}", where=source.where(path))


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def model_at(root: type[BaseModel], path: Path) -> type[BaseModel] | None:
    """The model class that describes the mapping at ``path``, if any."""
    current: Any = root
    for part in path:
        model = _as_model(current)
        if model is not None:
            field = _field_named(model, part)
            if field is None:
                return None
            current = field.annotation
            continue
        container = _container_item(current)
        if container is None:
            return None
        current = container
    return _as_model(current)


def _field_named(model: type[BaseModel], name: Any):
    for fname, field in model.model_fields.items():
        if name in (fname, field.alias):
            return field
    return None


def _unwrap(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        out = []
        for arg in typing.get_args(tp):
            out.extend(_unwrap(arg))
        return out
    return [tp]


def _as_model(tp: Any) -> type[BaseModel] | None:
    for option in _unwrap(tp):
        if isinstance(option, type) and issubclass(option, BaseModel):
            return option
    return None


def _container_item(tp: Any) -> Any:
    for option in _unwrap(tp):
        origin = typing.get_origin(option)
        if origin in (dict, typing.Dict):
            return typing.get_args(option)[1]
        if origin in (list, typing.List, tuple):
            return typing.get_args(option)[0]
    return None
