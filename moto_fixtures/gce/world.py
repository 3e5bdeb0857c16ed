"""The server's whole state: resources of every project, their operations, and what tests set.

Resources are stored as the JSON dicts the API returns, grouped by collection
path (``projects/p/zones/z/instances``) and keyed by name. A resource whose
``status`` walks on by itself (an instance booting) has a `Progression`.
A request holds `lock` for as long as it reads or changes anything here.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict

from .errors import already_exists, not_found, not_ready
from .faults import FaultPlan
from .operations import OperationBook
from .progression import Progression
from .quotas import QuotaLimits
from .references import name_of, parent_of

DEFAULT_STEP_SECONDS = 0.1
DEFAULT_WAIT_TIMEOUT_SECONDS = 0.2


class World:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.operations = OperationBook()
        self.quota_limits = QuotaLimits()
        self.faults = FaultPlan()
        self.requests: Counter[str] = Counter()
        self.step_seconds = DEFAULT_STEP_SECONDS
        self.wait_timeout_seconds = DEFAULT_WAIT_TIMEOUT_SECONDS
        self.random = random.Random(0)
        self.external_ip_cursor = 0  # where the next ephemeral external IP is looked for: no quick reuse
        self._collections: dict[str, dict[str, dict]] = defaultdict(dict)
        self._statuses: dict[str, Progression] = {}

    def new_id(self) -> str:
        """A resource id: a uint64 written as a decimal string, as the API does."""
        return str(self.random.getrandbits(63) | 1 << 60)

    def find(self, path: str) -> dict | None:
        return self._collections.get(parent_of(path), {}).get(name_of(path))

    def existing(self, path: str) -> dict:
        """The resource at `path` for reading; 404 when there is none."""
        resource = self.find(path)
        if resource is None:
            raise not_found(path)
        return resource

    def changeable(self, path: str) -> dict:
        """The resource at `path` for a mutation; refused while its insert is still running."""
        if self.operations.reserved(path):
            raise not_ready(path)
        return self.existing(path)

    def claim_name(self, path: str) -> None:
        """409 when the name is taken, by a resource or by an insert still running."""
        if self.find(path) is not None or self.operations.reserved(path):
            raise already_exists(path)

    def put(self, path: str, resource: dict) -> None:
        self._collections[parent_of(path)][name_of(path)] = resource

    def remove(self, path: str) -> None:
        self._collections[parent_of(path)].pop(name_of(path), None)
        self._statuses.pop(path, None)

    def items(self, collection: str) -> list[dict]:
        return list(self._collections.get(collection, {}).values())

    def items_across(self, project: str, scope_kind: str, collection: str) -> dict[str, list[dict]]:
        """Resources of one collection in every scope of a kind ("zones" or "regions"), by scope name."""
        prefix = f"projects/{project}/{scope_kind}/"
        return {
            key[len(prefix) : -len(collection) - 1]: list(items.values())
            for key, items in self._collections.items()
            if key.startswith(prefix) and key.endswith(f"/{collection}") and items
        }

    def items_everywhere(self, collection: str) -> list[dict]:
        """Resources of one collection in every project and scope."""
        return [
            item
            for key, items in self._collections.items()
            if key.endswith(f"/{collection}")
            for item in items.values()
        ]

    def walk_status(self, path: str, steps: tuple[str, ...], now: float) -> None:
        """Give the resource at `path` a status that walks through `steps` from now on."""
        progression = Progression(steps, now)
        self._statuses[path] = progression
        self.existing(path)["status"] = progression.status

    def set_status(self, path: str, status: str) -> None:
        self._statuses.pop(path, None)
        self.existing(path)["status"] = status

    def observe_status(self, path: str, now: float) -> None:
        progression = self._statuses.get(path)
        if progression is not None:
            progression.advance(now)
            self._write_status(path, progression)

    def tick(self, now: float) -> None:
        """Let elapsed time move operations and statuses on."""
        self.operations.tick(now, self.step_seconds)
        for path, progression in list(self._statuses.items()):
            progression.catch_up(now, self.step_seconds)
            self._write_status(path, progression)

    def _write_status(self, path: str, progression: Progression) -> None:
        self.existing(path)["status"] = progression.status
        if progression.finished:
            del self._statuses[path]
