"""A real load generator on loopback: wrk, with a Lua script that also counts what the
responses said, so a test under load can assert on failures and on which release
answered (``version=v3`` must never appear while v3 is being rolled back).

    with WrkRun("http://127.0.0.1:8080/", seconds=20, connections=8) as load:
        ...  # roll out
    result = load.result()   # requests, errors, non_2xx, versions {"v1": n}, p50_ms, p99_ms, rps
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# Each wrk thread counts into plain numeric globals (wrk copies only simple values between its
# threads' Lua states; reading a table crashes it): status classes, and the versions named on the
# script (anything else under "other"). done() sums the threads into one JSON line.
LUA = r"""
local threads = {}
local names = {{NAMES}}
function setup(thread) table.insert(threads, thread) end
function init(args)
  s2, s3, s4, s5, other = 0, 0, 0, 0, 0
  for _, n in ipairs(names) do _G["v_" .. n] = 0 end
end
function response(status, headers, body)
  if status < 300 then s2 = s2 + 1 elseif status < 400 then s3 = s3 + 1
  elseif status < 500 then s4 = s4 + 1 else s5 = s5 + 1 end
  local v = body and string.match(body, "version=([%w%-%.]+)")
  if v then
    if _G["v_" .. v] then _G["v_" .. v] = _G["v_" .. v] + 1 else other = other + 1 end
  end
end
function done(summary, latency, requests)
  local status, version = {s2 = 0, s3 = 0, s4 = 0, s5 = 0}, {other = 0}
  for _, t in ipairs(threads) do
    for k, _ in pairs(status) do status[k] = status[k] + (t:get(k) or 0) end
    version.other = version.other + (t:get("other") or 0)
    for _, n in ipairs(names) do version[n] = (version[n] or 0) + (t:get("v_" .. n) or 0) end
  end
  local function obj(t)
    local parts = {}
    for k, n in pairs(t) do table.insert(parts, string.format("%q:%d", k, n)) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  io.write(string.format('IACORCH-LOAD {"requests":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,'
    .. '"status":%s,"versions":%s,"p50_us":%d,"p99_us":%d,"duration_us":%d}\n',
    summary.requests, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout, obj(status), obj(version), latency:percentile(50), latency:percentile(99),
    summary.duration))
end
"""


@dataclass(frozen=True)
class LoadResult:
    requests: int
    socket_errors: int
    statuses: dict[str, int] = field(default_factory=dict)  # s2, s3, s4, s5: 2xx .. 5xx
    versions: dict[str, int] = field(default_factory=dict)
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    rps: float = 0.0

    @property
    def non_2xx(self) -> int:
        return sum(n for s, n in self.statuses.items() if s != "s2")

    @property
    def failed(self) -> int:
        """Requests that did not get a 2xx answer, and connections that broke."""
        return self.socket_errors + self.non_2xx


def parse(output: str) -> LoadResult:
    match = re.search(r"^IACORCH-LOAD (\{.*\})$", output, re.MULTILINE)
    if not match:
        raise RuntimeError(f"no summary in wrk's output:\n{output[-2000:]}")
    data = json.loads(match.group(1))
    seconds = data["duration_us"] / 1e6
    return LoadResult(requests=data["requests"],
                      socket_errors=data["connect"] + data["read"] + data["write"] + data["timeout"],
                      statuses=data["status"], versions={k: n for k, n in data["versions"].items() if n}, p50_ms=data["p50_us"] / 1000,
                      p99_ms=data["p99_us"] / 1000, rps=data["requests"] / seconds if seconds else 0.0)


class WrkRun:
    """wrk in the background for ``seconds`` (keep-alive, ``connections`` connections)."""

    def __init__(self, url: str, *, seconds: float, connections: int = 8, threads: int = 2,
                 timeout: str = "5s", versions: tuple[str, ...] = ("v1", "v2", "v3", "v4", "v5"),
                 rate: float | None = None) -> None:
        """``rate``: about this many requests per second in all (each connection pauses between
        its requests); None sends as fast as the connections allow."""
        if shutil.which("wrk") is None:
            raise RuntimeError("wrk is not installed (apt-get install wrk; make test installs it)")
        self._dir = tempfile.TemporaryDirectory(prefix="iacorch-wrk-")
        script = Path(self._dir.name) / "count.lua"
        lua = LUA.replace("{NAMES}", ", ".join(f'"{v}"' for v in versions))
        if rate:
            lua += f"function delay() return {max(1, round(connections * 1000 / rate))} end\n"
        script.write_text(lua)
        self.argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
                     f"--timeout={timeout}", "-s", str(script), url]
        self._proc: subprocess.Popen | None = None
        self._out = ""

    def __enter__(self) -> "WrkRun":
        self._proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.wait()

    def wait(self) -> str:
        if self._proc is not None and not self._out:
            self._out, _ = self._proc.communicate(timeout=600)
            self._dir.cleanup()
        return self._out

    def result(self) -> LoadResult:
        return parse(self.wait())


def run(url: str, *, seconds: float, connections: int = 8, threads: int = 2, rate: float | None = None
        ) -> LoadResult:
    with WrkRun(url, seconds=seconds, connections=connections, threads=threads, rate=rate) as load:
        pass
    return load.result()
