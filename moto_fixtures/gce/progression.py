"""A status that walks through fixed steps, the way operations and instances do.

It moves one step each time a client observes it (a GET or a wait) and one
step per `step_seconds` of elapsed time, so a client that polls and a client
that sleeps both see it finish.
"""

from __future__ import annotations

from collections.abc import Sequence


class Progression:
    def __init__(self, steps: Sequence[str], now: float):
        self._steps = tuple(steps)
        self._index = 0
        self._since = now

    @property
    def status(self) -> str:
        return self._steps[self._index]

    @property
    def finished(self) -> bool:
        return self._index == len(self._steps) - 1

    def advance(self, now: float) -> None:
        if not self.finished:
            self._index += 1
            self._since = now

    def finish(self, now: float) -> None:
        if not self.finished:
            self._index = len(self._steps) - 1
            self._since = now

    def catch_up(self, now: float, step_seconds: float) -> None:
        while not self.finished and now - self._since >= step_seconds:
            self._since += step_seconds
            self._index += 1
