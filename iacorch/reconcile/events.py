"""The event log of a stack: one JSON line per event (time, subject, action, reason, result).

The control loop writes every action it takes; ``iacorch events STACK [--follow]``
reads them. The log lives where the loop runs: under ``$IACORCH_HOME`` for a loop
in the foreground on this machine.
"""

from __future__ import annotations

import json
import os
import time
from typing import Iterator

from iacorch.home import stack_dir
from iacorch.reconcile.decide import Event


class EventLog:
    def __init__(self, stack: str, path: str | None = None) -> None:
        self.path = path or os.path.join(stack_dir(stack), "events.jsonl")

    def write(self, event: Event) -> None:
        line = json.dumps(event.to_json(), sort_keys=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def read(self) -> list[Event]:
        if not os.path.exists(self.path):
            return []
        with open(self.path, encoding="utf-8") as f:
            return [_event(line) for line in f if line.strip()]

    def follow(self, poll: float = 0.5) -> Iterator[Event]:
        """Every event so far, then new ones as they are written (until interrupted)."""
        position = 0
        while True:
            if os.path.exists(self.path):
                with open(self.path, encoding="utf-8") as f:
                    f.seek(position)
                    for line in f:
                        if line.endswith("\n") and line.strip():
                            yield _event(line)
                            position += len(line.encode())
                        else:
                            break
            time.sleep(poll)


def _event(line: str) -> Event:
    data = json.loads(line)
    return Event(data["time"], data["subject"], data["action"], data["reason"], data.get("result", ""))


def format_event(event: Event) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.time))
    return f"{stamp}  {event.subject:<22} {event.action:<14} {event.result:<10} {event.reason}"
