"""YAML with positions.

PyYAML's composer gives nodes with marks; we build plain Python data from them
and remember where every key and value came from, so that any later error
(pydantic validation, a dangling reference, an overlapping CIDR) can name
file:line:column. Duplicate keys are errors, as they silently lose data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from iacorch.errors import StackError

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Mark:
    line: int  # 1-based
    column: int  # 1-based

    @classmethod
    def of(cls, node: yaml.Node) -> "Mark":
        return cls(node.start_mark.line + 1, node.start_mark.column + 1)


@dataclass
class Source:
    """Parsed document: the data, and where each path came from."""

    filename: str
    data: Any
    values: dict[Path, Mark] = field(default_factory=dict)
    keys: dict[Path, Mark] = field(default_factory=dict)

    def where(self, path: Path, *, key: bool = False) -> str:
        """file:line:col of the deepest known prefix of ``path``."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            mark = table.get(probe) or self.values.get(probe)
            if mark:
                return f"{self.filename}:{mark.line}:{mark.column}"
            probe = probe[:-1]
        mark = self.values.get(())
        return f"{self.filename}:{mark.line}:{mark.column}" if mark else self.filename

    def known(self, path: Path) -> bool:
        return tuple(path) in self.values


class _Constructor(yaml.SafeLoader):
    """Only used for resolving scalar tags (int, bool, null, ...)."""


def parse(text: str, filename: str) -> Source:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark else filename
        problem = exc.problem or exc.context or "malformed YAML"
        hint = None
        if "found character '\\t'" in problem:
            hint = "YAML indentation must use spaces, not tabs"
        raise StackError(f"malformed YAML: {problem}", where=where, hint=hint) from None
    source = Source(filename=filename, data=None)
    if node is None:
        raise StackError("the stack file is empty", where=filename,
                         hint="start with 'stack: NAME' and 'provider: ...'")
    loader = _Constructor("")
    source.data = _build(node, (), source, loader)
    return source


def _build(node: yaml.Node, path: Path, source: Source, loader: yaml.SafeLoader) -> Any:
    source.values[path] = Mark.of(node)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                where = f"{source.filename}:{Mark.of(key_node).line}:{Mark.of(key_node).column}"
                raise StackError(
                    "malformed YAML: a mapping key must be a plain value", where=where,
                    hint='quote Jinja expressions that start a value, e.g. replicas: "{{ n }}"')
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise StackError("YAML merge keys (<<) are not supported",
                                 where=f"{source.filename}:{Mark.of(key_node).line}:{Mark.of(key_node).column}")
            key = loader.construct_object(key_node)
            if isinstance(key, bool):
                key = key_node.value  # as written: YAML 1.1 would make `on:` (reconcile.on) the key True
            elif not isinstance(key, (str, int)):
                key = str(key)
            if key in out:
                first = source.keys[path + (key,)]
                raise StackError(
                    f"duplicate key '{key}' (first defined at line {first.line})",
                    where=f"{source.filename}:{Mark.of(key_node).line}:{Mark.of(key_node).column}")
            source.keys[path + (key,)] = Mark.of(key_node)
            out[key] = _build(value_node, path + (key,), source, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), source, loader) for i, item in enumerate(node.value)]
    value = loader.construct_object(node)
    return value
