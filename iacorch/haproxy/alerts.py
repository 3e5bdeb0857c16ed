"""HAProxy's ``[ALERT]`` and ``[WARNING]`` lines, mapped back to the rendered config.

``haproxy -c -f FILE`` names a line (``parsing [FILE:33] : unknown option 'x'``) or a
proxy (``Proxy 'web': unable to find required default_backend``). Since we rendered the
file, each message can show the line itself and the section it sits in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from iacorch.errors import HostError
from iacorch.haproxy.render import RenderedConfig

_MESSAGE = re.compile(r"^\[(ALERT|WARNING)\]\s*(?:\(\d+\)\s*)?:\s*(?:config\s*:\s*)?(.*)$")
_FILE_LINE = re.compile(r"\[(/[^\]:]+):(\d+)\]")
_PROXY = re.compile(r"\b(?:[Pp]roxy|backend|frontend|listen) '([^']+)'")
_SUMMARY = ("Error(s) found in configuration file", "Fatal errors found in configuration")


@dataclass(frozen=True)
class ConfigMessage:
    """One message from ``haproxy -c``, with the rendered line it is about (when it names one)."""

    level: str  # ALERT or WARNING
    text: str  # the staging file's path replaced by "line N"
    line: int | None = None
    line_text: str | None = None
    section: str | None = None

    @property
    def is_summary(self) -> bool:
        """"Fatal errors found": true of every rejected config, so it says nothing of its own."""
        return self.text.startswith(_SUMMARY)

    def describe(self) -> str:
        head = f"[{self.level}] {self.text}"
        if self.line is None:
            return head
        where = f"line {self.line}" + (f", in {self.section}" if self.section else "")
        return f"{head}\n      {where}: {(self.line_text or '').strip()}"


def parse_check_output(output: str, config: RenderedConfig) -> list[ConfigMessage]:
    """The ALERT and WARNING lines of ``haproxy -c`` output (NOTICE lines are left out)."""
    messages = []
    for raw in output.splitlines():
        match = _MESSAGE.match(raw.strip())
        if not match:
            continue
        level, text = match.groups()
        line = None
        located = _FILE_LINE.search(text)
        if located:
            line = int(located.group(2))
            text = text[:located.start()] + f"[line {line}]" + text[located.end():]
        else:
            proxy = _PROXY.search(text)
            if proxy:
                line = config.section_line(proxy.group(1))
        messages.append(ConfigMessage(level, text.strip(), line, config.line(line) if line else None,
                                      config.section_of(line) if line else None))
    return messages


class HaproxyConfigRejected(HostError):
    """``haproxy -c`` refused a new config; it was not installed and the old one keeps serving."""

    def __init__(self, where: str, target: str, messages: list[ConfigMessage], output: str) -> None:
        shown = [message for message in messages if message.level == "ALERT" and not message.is_summary]
        if not shown:  # no ALERT we understand: show the raw output rather than nothing
            details = "\n".join("  " + line for line in output.strip().splitlines()[-20:])
        else:
            details = "\n".join("  " + message.describe() for message in shown)
        super().__init__(f"HAProxy rejected the new config (haproxy -c); {target} was not changed and the "
                         "running config keeps serving", where=where, details=details,
                         hint="fix the load balancer setting that produced this line (an `options` line is "
                              "passed through as written)")
        self.messages, self.output = messages, output

    @property
    def alerts(self) -> list[ConfigMessage]:
        return [message for message in self.messages if message.level == "ALERT"]
