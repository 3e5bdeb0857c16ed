"""Fingerprints: the optimistic-locking tokens on labels, tags, metadata and subnetworks.

A fingerprint is a short hash of the current value; a caller changing the value
must send the fingerprint it last read, and a stale one is refused with 412.
"""

from __future__ import annotations

import base64
import hashlib
import json

from .errors import ApiError, condition_not_met, required


def fingerprint(value: object) -> str:
    digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def require_current(given: object, current: str, field_name: str, what: str) -> None:
    """400 when the caller sent no fingerprint, 412 when it is stale."""
    if given in (None, ""):
        raise required(field_name)
    if given != current:
        raise stale(what)


def stale(what: str) -> ApiError:
    return condition_not_met(f"Supplied fingerprint does not match current {what} fingerprint.")
