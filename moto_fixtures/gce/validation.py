"""Field rules the real API enforces synchronously (HTTP 400).

Each check takes the field's name as the API spells it in error messages
(``resource.name``, ``resource.labels``) and raises `ApiError` on a bad value.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from .errors import ApiError, invalid, required, unsupported

NAME = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
NETWORK_TAG = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
METADATA_KEY = re.compile(r"[a-zA-Z0-9_-]{1,128}")

MAX_LABELS = 64
MAX_TAGS = 64
MAX_DESCRIPTION = 2048
MAX_METADATA_BYTES = 512 * 1024


def only_fields(body: dict, allowed: Iterable[str], prefix: str) -> None:
    """Refuse fields this server does not model, so nothing a caller sends is silently dropped."""
    if not isinstance(body, dict):
        raise invalid(prefix, body, "Must be an object.")
    allowed = set(allowed)
    for key in body:
        if key not in allowed:
            raise unsupported(f"{prefix}.{key}")


def object_field(body: dict, key: str, prefix: str) -> dict:
    value = body.get(key)
    if value is None:
        raise required(f"{prefix}.{key}")
    if not isinstance(value, dict):
        raise invalid(f"{prefix}.{key}", value, "Must be an object.")
    return value


def string_field(body: dict, key: str, prefix: str) -> str:
    value = body.get(key)
    if value in (None, ""):
        raise required(f"{prefix}.{key}")
    if not isinstance(value, str):
        raise invalid(f"{prefix}.{key}", value, "Must be a string.")
    return value


def list_field(body: dict, key: str, prefix: str) -> list:
    value = body.get(key, [])
    if not isinstance(value, list):
        raise invalid(f"{prefix}.{key}", value, "Must be a list.")
    return value


def boolean_field(body: dict, key: str, prefix: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise invalid(f"{prefix}.{key}", value, "Must be a boolean.")
    return value


def resource_name(body: dict, prefix: str = "resource") -> str:
    name = string_field(body, "name", prefix)
    if not NAME.fullmatch(name):
        raise invalid(f"{prefix}.name", name, f"Must be a match of regex '{NAME.pattern}'")
    return name


def description(body: dict, prefix: str) -> None:
    value = body.get("description", "")
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION:
        raise invalid(
            f"{prefix}.description", value, f"Must be a string of at most {MAX_DESCRIPTION} characters."
        )


def labels(value: object, field_name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(field_name, value, "Labels must be a map of strings.")
    if len(value) > MAX_LABELS:
        raise invalid(field_name, len(value), f"At most {MAX_LABELS} labels are allowed.")
    for key, label in value.items():
        if not LABEL_KEY.fullmatch(key):
            raise invalid(f"{field_name}.key", key, f"Label keys must match '{LABEL_KEY.pattern}'.")
        if not isinstance(label, str) or not LABEL_VALUE.fullmatch(label):
            raise invalid(f"{field_name}.value", label, f"Label values must match '{LABEL_VALUE.pattern}'.")
    return dict(value)


def network_tags(items: object, field_name: str) -> list[str]:
    if not isinstance(items, list):
        raise invalid(field_name, items, "Must be a list of strings.")
    if len(items) > MAX_TAGS:
        raise invalid(field_name, len(items), f"At most {MAX_TAGS} tags are allowed.")
    for tag in items:
        if not isinstance(tag, str) or not NETWORK_TAG.fullmatch(tag):
            raise invalid(field_name, tag, f"Must be a match of regex '{NETWORK_TAG.pattern}'")
    if len(set(items)) != len(items):
        raise invalid(field_name, items, "Duplicate tags are not allowed.")
    return list(items)


def metadata_items(items: object, field_name: str) -> list[dict]:
    if not isinstance(items, list):
        raise invalid(field_name, items, "Must be a list of key/value items.")
    keys: set[str] = set()
    size = 0
    for item in items:
        if not isinstance(item, dict) or set(item) - {"key", "value"}:
            raise invalid(field_name, item, "Each item must have only 'key' and 'value'.")
        key = item.get("key")
        if not isinstance(key, str) or not METADATA_KEY.fullmatch(key):
            raise invalid(f"{field_name}.key", key, f"Must be a match of regex '{METADATA_KEY.pattern}'")
        if key in keys:
            raise invalid(f"{field_name}.key", key, "Duplicate metadata keys are not allowed.")
        keys.add(key)
        value = item.get("value", "")
        if not isinstance(value, str):
            raise invalid(f"{field_name}.value", value, "Must be a string.")
        size += len(key) + len(value.encode())
    if size > MAX_METADATA_BYTES:
        raise ApiError(
            400, "invalid", f"Metadata total size {size} bytes exceeds {MAX_METADATA_BYTES} bytes."
        )
    return [{"key": item["key"], "value": item.get("value", "")} for item in items]


def ipv4_cidr(value: object, field_name: str, min_prefix: int = 0, max_prefix: int = 32) -> str:
    """A canonical IPv4 CIDR (no host bits set) with a prefix length in range."""
    try:
        network = ipaddress.IPv4Network(value, strict=True) if isinstance(value, str) else None
    except ValueError:
        network = None
    if network is None or "/" not in value:
        raise invalid(field_name, value, "Invalid IPCidrRange.")
    if not min_prefix <= network.prefixlen <= max_prefix:
        raise invalid(
            field_name, value, f"The prefix length must be between /{min_prefix} and /{max_prefix}."
        )
    return str(network)


def integer(value: object, field_name: str, low: int, high: int) -> int:
    """An integer field; int64 fields arrive as JSON strings from the client library."""
    try:
        number = int(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else None
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise invalid(field_name, value, f"Must be an integer between {low} and {high}.")
    return number
