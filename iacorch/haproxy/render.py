"""``HaproxyConfig`` -> the bytes of haproxy.cfg, through ``templates/haproxy.cfg.j2``.

Rendering is deterministic (same config, same bytes), so "does the host need a new
config?" is a comparison of SHA-256 digests, and a rejected config's line numbers can be
mapped back to the rendered text.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources

import jinja2

from iacorch.haproxy.config import HaproxyConfig

TEMPLATE = "haproxy.cfg.j2"
SECTION_KEYWORDS = ("global", "defaults", "frontend", "backend", "listen")


def haproxy_duration(seconds: float) -> str:
    """Seconds as HAProxy writes time: ``5s``, ``500ms`` (whole milliseconds)."""
    millis = round(seconds * 1000)
    if millis <= 0:
        raise ValueError(f"a HAProxy duration must be at least 1ms, got {seconds!r}s")
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


@cache
def _template() -> jinja2.Template:
    source = (resources.files("templates") / TEMPLATE).read_text(encoding="utf-8")
    environment = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                                     undefined=jinja2.StrictUndefined, autoescape=False)
    environment.filters["duration"] = haproxy_duration
    return environment.from_string(source)


@dataclass(frozen=True)
class RenderedConfig:
    """The text of a haproxy.cfg, its digest, and what each line belongs to."""

    text: str

    @property
    def data(self) -> bytes:
        return self.text.encode()

    @cached_property
    def digest(self) -> str:
        """SHA-256 of the bytes, as ``sha256sum`` prints it."""
        return hashlib.sha256(self.data).hexdigest()

    @cached_property
    def lines(self) -> tuple[str, ...]:
        return tuple(self.text.splitlines())

    def line(self, number: int) -> str | None:
        """Line ``number`` (1-based, as HAProxy counts), or None past the end."""
        return self.lines[number - 1] if 1 <= number <= len(self.lines) else None

    def section_of(self, number: int) -> str | None:
        """The section a line is in, e.g. ``backend public.web``."""
        for index in range(min(number, len(self.lines)) - 1, -1, -1):
            text = self.lines[index]
            if text and not text[0].isspace() and text.split()[0] in SECTION_KEYWORDS:
                return text.strip()
        return None

    def section_line(self, name: str) -> int | None:
        """The line that opens the frontend, backend or listen section called ``name``."""
        for number, text in enumerate(self.lines, start=1):
            words = text.split()
            if len(words) == 2 and not text[0].isspace() and words[0] in SECTION_KEYWORDS and words[1] == name:
                return number
        return None


def render_config(config: HaproxyConfig) -> RenderedConfig:
    """The haproxy.cfg for ``config``."""
    return RenderedConfig(_template().render(config=config))
