"""What the control loop measures: each container's CPU and memory (``docker stats`` over SSH,
one round trip per host) and each service's request rate (HAProxy's counters)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Mapping

from iacorch.command import Command

_SIZE = re.compile(r"^\s*([\d.]+)\s*([KMGT]?i?B)\s*$")
_UNITS = {"B": 1, "kB": 1000, "KB": 1000, "KiB": 1024, "MB": 1000**2, "MiB": 1024**2, "GB": 1000**3,
          "GiB": 1024**3, "TB": 1000**4, "TiB": 1024**4}


@dataclass(frozen=True)
class Usage:
    cpu_percent: float  # of one core, as docker stats says (200 = two cores busy)
    memory: int  # bytes in use
    memory_limit: int  # bytes the container may use


@dataclass(frozen=True)
class Metrics:
    """One sample: usage by container name, and request counters by service (HAProxy's totals)."""

    usage: Mapping[str, Usage] = field(default_factory=dict)
    requests: Mapping[str, int] = field(default_factory=dict)
    time: float = 0.0


def stats_command(stack: str) -> Command:
    """``docker stats`` of the stack's running containers (it samples for about a second)."""
    return Command.shell(
        f'ids=$(docker ps -q --filter label=iacorch.stack={stack}); '
        '[ -z "$ids" ] || docker stats --no-stream --format "{{json .}}" $ids')


def _bytes(text: str) -> int:
    m = _SIZE.match(text.replace("kB", "kB"))
    if not m:
        return 0
    unit = m.group(2)
    return int(float(m.group(1)) * _UNITS.get(unit, _UNITS.get(unit.upper(), 1)))


def parse_stats(text: str) -> dict[str, Usage]:
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        item = json.loads(line)
        used, _, limit = item.get("MemUsage", "0B / 0B").partition("/")
        try:
            cpu = float(item.get("CPUPerc", "0%").rstrip("%") or 0)
        except ValueError:
            cpu = 0.0
        out[item["Name"]] = Usage(cpu, _bytes(used), _bytes(limit))
    return out
