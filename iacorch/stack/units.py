"""Typed scalars of the stack format: durations, sizes, CIDRs, percentages, names."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


def parse_duration(value: Any) -> float:
    """``2s``, ``500ms``, ``1m``, ``1.5h`` or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 2s, 500ms or 1m")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            n = float(m.group(1))
            return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]
    raise ValueError(f"expected a duration such as 2s, 500ms or 1m, got {value!r}")


def format_duration(seconds: float) -> str:
    if seconds and seconds < 1:
        return f"{round(seconds * 1000)}ms"
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{seconds:g}s"


def parse_size(value: Any) -> int:
    """``256M``, ``1G``, ``512MiB`` or a number of bytes -> bytes (binary units)."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 256M or 1G")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    if isinstance(value, str):
        m = _SIZE.match(value)
        if m:
            unit = (m.group(2) or "b").lower().rstrip("b").rstrip("i")
            factor = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}[unit]
            return int(float(m.group(1)) * factor)
    raise ValueError(f"expected a size such as 256M or 1G, got {value!r}")


def format_size(n: int) -> str:
    for unit, factor in (("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if n >= factor and n % factor == 0:
            return f"{n // factor}{unit}"
    return str(n)


def parse_cidr(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a CIDR such as 10.0.1.0/24, got {value!r}")
    try:
        net = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not a valid CIDR; expected something like 10.0.1.0/24") from None
    if net.version != 4:
        raise ValueError(f"{value!r}: only IPv4 CIDRs are supported")
    if str(net) != value.strip():
        raise ValueError(f"{value!r} has host bits set; did you mean {net}?")
    return str(net)


def parse_percent_or_count(value: Any) -> int | str:
    """``1`` or ``25%``."""
    if isinstance(value, bool):
        raise ValueError("expected a count or a percentage such as 25%")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("cannot be negative")
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%") and text[:-1].strip().isdigit():
            pct = int(text[:-1])
            if pct > 100:
                raise ValueError("a percentage cannot exceed 100%")
            return f"{pct}%"
        if text.isdigit():
            return int(text)
    raise ValueError(f"expected a count or a percentage such as 25%, got {value!r}")


def resolve_count(value: int | str, total: int, *, round_up: bool) -> int:
    """A count or percentage of ``total``; percentages round like Kubernetes (surge up, unavailable down)."""
    if isinstance(value, int):
        return value
    pct = int(value.rstrip("%"))
    whole, rest = divmod(total * pct, 100)
    return whole + (1 if round_up and rest else 0)


def check_name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(
            f"{value!r} is not a valid name: use lowercase letters, digits and '-', "
            "starting with a letter, at most 40 characters")
    return value


Duration = Annotated[float, BeforeValidator(parse_duration),
                     PlainSerializer(format_duration, return_type=str)]
Size = Annotated[int, BeforeValidator(parse_size), PlainSerializer(format_size, return_type=str)]
Cidr = Annotated[str, BeforeValidator(parse_cidr)]
CountOrPercent = Annotated[int | str, BeforeValidator(parse_percent_or_count)]
Name = Annotated[str, BeforeValidator(check_name)]
