"""List and aggregatedList responses: filter, order, and pages of at most `maxResults`.

Page tokens are opaque to callers; one is only valid for the query that
produced it (same collection, filter and order), as on the real API.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json

from .errors import invalid
from .filters import compile_filter
from .references import url
from .validation import integer

MAX_RESULTS = 500


def _ordered(items: list[dict], order_by: str) -> list[dict]:
    by_name = sorted(items, key=lambda item: item["name"])
    if order_by in ("", "name"):
        return by_name
    if order_by == "creationTimestamp desc":
        return sorted(
            by_name, key=lambda item: item.get("creationTimestamp", item.get("insertTime", "")), reverse=True
        )
    raise invalid("orderBy", order_by, "Only 'name' and 'creationTimestamp desc' are supported.")


def _query_digest(query: dict[str, str], listing: str) -> str:
    key = json.dumps([listing, query.get("filter", ""), query.get("orderBy", "")])
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _page(entries: list, query: dict[str, str], listing: str) -> tuple[list, str | None]:
    size = integer(query.get("maxResults", MAX_RESULTS), "maxResults", 0, MAX_RESULTS) or MAX_RESULTS
    digest = _query_digest(query, listing)
    start = 0
    token = query.get("pageToken")
    if token:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
            start = int(decoded["offset"]) if decoded["query"] == digest else -1
        except (ValueError, KeyError, TypeError):
            start = -1
        if start < 0:
            raise invalid("pageToken", token, "The page token is invalid or belongs to another query.")
    end = start + size
    next_token = None
    if end < len(entries):
        next_token = base64.urlsafe_b64encode(json.dumps({"offset": end, "query": digest}).encode()).decode()
    return entries[start:end], next_token


def list_response(
    kind: str, collection: str, items: list[dict], query: dict[str, str], fields: frozenset[str]
) -> dict:
    """`kind` is e.g. compute#instanceList; `collection` the path the list was read from."""
    matches = compile_filter(query.get("filter", ""), fields)
    chosen = _ordered([item for item in items if matches(item)], query.get("orderBy", ""))
    page, next_token = _page(chosen, query, collection)
    response = {"kind": kind, "id": collection, "selfLink": url(collection)}
    if page:
        response["items"] = copy.deepcopy(page)
    if next_token:
        response["nextPageToken"] = next_token
    return response


def aggregated_response(
    kind: str,
    project: str,
    collection: str,
    items_by_scope: dict[str, list[dict]],
    all_scopes: list[str],
    query: dict[str, str],
    fields: frozenset[str],
) -> dict:
    """An aggregatedList: `items` maps each scope ("zones/z") to its resources or a NO_RESULTS warning."""
    matches = compile_filter(query.get("filter", ""), fields)
    entries = [
        (scope, item)
        for scope in sorted(items_by_scope)
        for item in _ordered(items_by_scope[scope], query.get("orderBy", ""))
        if matches(item)
    ]
    listing = f"projects/{project}/aggregated/{collection}"
    page, next_token = _page(entries, query, listing)
    grouped: dict[str, dict] = {}
    for scope, item in page:
        grouped.setdefault(scope, {collection: []})[collection].append(copy.deepcopy(item))
    for scope in all_scopes:
        grouped.setdefault(
            scope,
            {
                "warning": {
                    "code": "NO_RESULTS_ON_PAGE",
                    "message": f"There are no results for scope '{scope}' on this page.",
                    "data": [{"key": "scope", "value": scope}],
                }
            },
        )
    response = {"kind": kind, "id": listing, "items": grouped, "selfLink": url(listing), "unreachables": []}
    if next_token:
        response["nextPageToken"] = next_token
    return response
