"""Wall-clock timestamps in the RFC 3339 form the API writes (creationTimestamp, insertTime...)."""

from __future__ import annotations

from datetime import UTC, datetime


def timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
