"""Progress reporting. The engine calls a Reporter; only reporters print.

``PlainReporter`` writes one timestamped line per event (CI logs);
``RichReporter`` shows live progress in a terminal.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import IO, Protocol


class Reporter(Protocol):
    def phase(self, text: str) -> None: ...
    def started(self, what: str) -> None: ...
    def finished(self, what: str, seconds: float, detail: str = "") -> None: ...
    def failed(self, what: str, error: str) -> None: ...
    def skipped(self, what: str, reason: str) -> None: ...
    def message(self, text: str, level: str = "info") -> None: ...
    def close(self) -> None: ...


class PlainReporter:
    def __init__(self, stream: IO[str] | None = None, *, timestamps: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.timestamps = timestamps
        self._lock = threading.Lock()

    def _line(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S ") if self.timestamps else ""
        with self._lock:
            self.stream.write(f"{stamp}{text}\n")
            self.stream.flush()

    def phase(self, text: str) -> None:
        self._line(f"== {text}")

    def started(self, what: str) -> None:
        self._line(f"   {what}: started")

    def finished(self, what: str, seconds: float, detail: str = "") -> None:
        self._line(f"ok {what} ({seconds:.1f}s){': ' + detail if detail else ''}")

    def failed(self, what: str, error: str) -> None:
        first, _, rest = error.partition("\n")
        self._line(f"!! {what}: {first}")
        for line in rest.splitlines():
            self._line(f"   {line}")

    def skipped(self, what: str, reason: str) -> None:
        self._line(f"-- {what}: skipped, {reason}")

    def message(self, text: str, level: str = "info") -> None:
        prefix = {"warning": "warning: ", "error": "error: "}.get(level, "")
        self._line(f"{prefix}{text}")

    def close(self) -> None:
        pass


class RichReporter:
    """Live progress for a terminal: one spinner per running step, results scroll above."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True)
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                 console=self.console, transient=True)
        self.progress.start()
        self._tasks: dict[str, int] = {}
        self._lock = threading.Lock()

    def phase(self, text: str) -> None:
        self.console.print(f"[bold]{text}[/bold]")

    def started(self, what: str) -> None:
        with self._lock:
            self._tasks[what] = self.progress.add_task(what)

    def _done(self, what: str) -> None:
        with self._lock:
            task = self._tasks.pop(what, None)
        if task is not None:
            self.progress.remove_task(task)

    def finished(self, what: str, seconds: float, detail: str = "") -> None:
        self._done(what)
        extra = f" [dim]{detail}[/dim]" if detail else ""
        self.console.print(f"[green]✓[/green] {what} [dim]({seconds:.1f}s)[/dim]{extra}", highlight=False)

    def failed(self, what: str, error: str) -> None:
        self._done(what)
        self.console.print(f"[red]✗ {what}[/red]: {error}", highlight=False, markup=False)

    def skipped(self, what: str, reason: str) -> None:
        self._done(what)
        self.console.print(f"[yellow]-[/yellow] {what}: skipped, {reason}", highlight=False)

    def message(self, text: str, level: str = "info") -> None:
        style = {"warning": "yellow", "error": "red"}.get(level)
        self.console.print(f"[{style}]{text}[/{style}]" if style else text, highlight=False)

    def close(self) -> None:
        self.progress.stop()


class RecordingReporter:
    """Keeps events in memory (tests, and callers that render their own output)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []
        self._lock = threading.Lock()

    def _add(self, *event: str) -> None:
        with self._lock:
            self.events.append(event)

    def phase(self, text: str) -> None:
        self._add("phase", text)

    def started(self, what: str) -> None:
        self._add("started", what)

    def finished(self, what: str, seconds: float, detail: str = "") -> None:
        self._add("finished", what, detail)

    def failed(self, what: str, error: str) -> None:
        self._add("failed", what, error)

    def skipped(self, what: str, reason: str) -> None:
        self._add("skipped", what, reason)

    def message(self, text: str, level: str = "info") -> None:
        self._add("message", level, text)

    def close(self) -> None:
        pass


def for_stream(stream: IO[str] | None = None) -> Reporter:
    stream = stream or sys.stderr
    if stream.isatty():
        return RichReporter()
    return PlainReporter(stream)
