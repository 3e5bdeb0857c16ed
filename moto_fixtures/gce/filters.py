"""List filters: the part of the API's `filter` syntax this server evaluates. Anything else is a 400.

Comparison syntax:
    FIELD = VALUE      FIELD != VALUE      FIELD:*   (the field is present)
VALUE is a bare word or a "double" / 'single' quoted string, compared exactly
(no wildcards). FIELD is a field of the resource or a dotted path into maps
(``labels.env``, ``scheduling.preemptible``). Terms combine by juxtaposition or
AND, or by OR, with parentheses; AND and OR are not mixed without parentheses.

Regular-expression syntax (cannot be mixed with the above):
    FIELD eq REGEX     FIELD ne REGEX     (FIELD eq REGEX) (FIELD2 ne "REGEX2")
The regex (RE2-like, Python `re`) must match the whole value; terms are ANDed.
A field that is absent compares as the empty string here.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .errors import ApiError

Predicate = Callable[[dict], bool]

FIELD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z0-9_-]+)*")
REGEX_TERM = re.compile(r"\s*([A-Za-z][\w.-]*)\s+(eq|ne)\s+(.+?)\s*", re.DOTALL)
TOKEN = re.compile(
    r"""\s*(?:(?P<paren>[()])|(?P<op>!=|<=|>=|=|:|<|>)|(?P<quoted>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"""
    r"""|(?P<word>[^\s()=!:<>"']+))"""
)


def bad_filter(text: str, why: str) -> ApiError:
    return ApiError(
        400, "invalid", f"Invalid value for field 'filter': '{text}'. Invalid list filter expression: {why}"
    )


def compile_filter(text: str, fields: frozenset[str]) -> Predicate:
    if not text.strip():
        return lambda resource: True
    regex_terms = _regex_terms(text)
    if regex_terms is not None:
        return _regex_predicate(text, regex_terms, fields)
    return _Parser(text, fields).parse()


def _unquote(literal: str) -> str:
    if len(literal) >= 2 and literal[0] == literal[-1] and literal[0] in "\"'":
        return re.sub(r"\\(.)", r"\1", literal[1:-1])
    return literal


def _top_level_groups(text: str) -> list[str] | None:
    """The insides of `(a) (b) (c)`, or None when the text is not only such groups."""
    groups, depth, start, quote = [], 0, 0, ""
    for index, char in enumerate(text):
        if quote:
            quote = "" if char == quote and text[index - 1] != "\\" else quote
        elif char in "\"'":
            quote = char
        elif char == "(":
            depth += 1
            start = index + 1 if depth == 1 else start
        elif char == ")":
            depth -= 1
            if depth < 0:
                return None
            if depth == 0:
                groups.append(text[start:index])
        elif depth == 0 and not char.isspace():
            return None
    return groups if depth == 0 and not quote else None


def _regex_terms(text: str) -> list[tuple[str, str, str]] | None:
    stripped = text.strip()
    if not stripped.startswith("("):
        match = REGEX_TERM.fullmatch(stripped)
        return [match.groups()] if match else None
    groups = _top_level_groups(stripped) or []
    matches = [REGEX_TERM.fullmatch(group) for group in groups]
    if matches and all(matches):
        return [match.groups() for match in matches]
    if any(matches):
        raise bad_filter(text, "the eq/ne regular-expression syntax cannot be mixed with =, != or :")
    return None


def _check_field(text: str, field: str, fields: frozenset[str]) -> None:
    if not FIELD.fullmatch(field) or field.split(".")[0] not in fields:
        raise bad_filter(text, f"unknown field '{field}'")


def _value(text: str, resource: dict, field: str) -> str | None:
    value: object = resource
    for part in field.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    if isinstance(value, (dict, list)):
        raise bad_filter(text, f"field '{field}' is not a single value")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _regex_predicate(text: str, terms: list[tuple[str, str, str]], fields: frozenset[str]) -> Predicate:
    compiled = []
    for field, operator, literal in terms:
        _check_field(text, field, fields)
        try:
            pattern = re.compile(_unquote(literal))
        except re.error as error:
            raise bad_filter(text, f"bad regular expression: {error}") from None
        compiled.append((field, operator == "eq", pattern))

    def matches(resource: dict) -> bool:
        return all(
            bool(pattern.fullmatch(_value(text, resource, field) or "")) == wanted
            for field, wanted, pattern in compiled
        )

    return matches


class _Parser:
    """Recursive descent over the comparison syntax, building a predicate."""

    def __init__(self, text: str, fields: frozenset[str]):
        self.text = text
        self.fields = fields
        self.tokens = self._tokenize(text)
        self.position = 0

    def _tokenize(self, text: str) -> list[tuple[str, str]]:
        tokens, position = [], 0
        while position < len(text):
            match = TOKEN.match(text, position)
            if match is None or match.end() == position:
                if text[position:].strip():
                    raise bad_filter(text, f"cannot read '{text[position:].strip()}'")
                break
            kind = match.lastgroup
            tokens.append((kind, match.group(kind)))
            position = match.end()
        return tokens

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self, what: str) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise bad_filter(self.text, f"expected {what} at the end")
        self.position += 1
        return token

    def parse(self) -> Predicate:
        predicate = self._sequence()
        if self._peek() is not None:
            raise bad_filter(self.text, f"unexpected '{self._peek()[1]}'")
        return predicate

    def _sequence(self) -> Predicate:
        terms = [self._unit()]
        joiners = set()
        while (token := self._peek()) is not None and token != ("paren", ")"):
            if token in (("word", "AND"), ("word", "OR")):
                joiners.add(self._take("AND/OR")[1])
            else:
                joiners.add("AND")
            terms.append(self._unit())
        if len(joiners) > 1:
            raise bad_filter(self.text, "AND and OR cannot be mixed without parentheses")
        if joiners == {"OR"}:
            return lambda resource: any(term(resource) for term in terms)
        return lambda resource: all(term(resource) for term in terms)

    def _unit(self) -> Predicate:
        if self._peek() == ("paren", "("):
            self._take("(")
            inner = self._sequence()
            if self._take("')'") != ("paren", ")"):
                raise bad_filter(self.text, "unbalanced parentheses")
            return inner
        return self._comparison()

    def _comparison(self) -> Predicate:
        kind, field = self._take("a field name")
        if kind != "word":
            raise bad_filter(self.text, f"expected a field name, found '{field}'")
        _check_field(self.text, field, self.fields)
        _, operator = self._take("an operator")
        if operator not in ("=", "!=", ":"):
            raise bad_filter(self.text, f"operator '{operator}' after '{field}' is not supported")
        kind, literal = self._take("a value")
        if kind not in ("word", "quoted"):
            raise bad_filter(self.text, f"expected a value after '{field} {operator}'")
        text = self.text
        if operator == ":":
            if literal != "*":
                raise bad_filter(text, "only FIELD:* (presence) is supported with ':'")
            return lambda resource: _value(text, resource, field) is not None
        value = _unquote(literal)
        if "*" in value:
            raise bad_filter(text, "wildcards in = and != comparisons are not supported")
        if operator == "=":
            return lambda resource: _value(text, resource, field) == value
        return lambda resource: _value(text, resource, field) != value
