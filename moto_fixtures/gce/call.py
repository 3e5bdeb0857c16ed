"""One API call as a route handler sees it: path parameters, query, JSON body, the world."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import invalid, required

if TYPE_CHECKING:
    from .world import World


@dataclass
class Call:
    world: World
    method_id: str
    params: dict[str, str]
    query: dict[str, str]
    body: object
    now: float
    delay_seconds: float = 0.0

    @property
    def project(self) -> str:
        return self.params["project"]

    def resource(self, field_name: str = "resource") -> dict:
        """The request body, which must be a JSON object."""
        if self.body is None:
            raise required(field_name)
        if not isinstance(self.body, dict):
            raise invalid(field_name, self.body, "The request body must be a JSON object.")
        return self.body
