"""Benchmark: latency and throughput through HAProxy versus straight to one replica.

    python bench/lb_latency.py [--rounds 3] [--seconds 10] [--connections 16] [--pace-ms 4]

Builds two VMs with the e2e testbed machinery (containers with systemd and sshd): an app
VM and a load balancer VM running Debian's haproxy with the config iacorch renders. The
app VM runs two kinds of replica, both keep-alive: nginx answering at once (two server
blocks), and a small asyncio server answering after ``--service-ms`` (an app with a
service time; netem is not available here). Then wrk, on this machine, with keep-alive:

- paced ("moderate") load: each connection waits ``--pace-ms`` between requests (wrk's
  Lua ``delay``), alternating direct and through-the-LB runs for ``--rounds`` rounds; the
  medians of p50 / p99 / requests per second are compared. The LB forwards to the same
  single replica the direct run hits, so the difference is the LB's hop;
- unpaced (saturating) load for the maximum requests per second of each path, and of the
  LB over both nginx replicas.

Target: the LB adds under 20% to p99 at moderate load. The machine's load average is
printed: other work on it shows up in p99. Everything the benchmark created is removed at
the end. Requests go only to the VMs' IPs on the benchmark's own network.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from iacorch.command import Command, Script
from iacorch.haproxy import (
    RuntimeApi,
    deploy_config,
    haproxy_config,
    install_haproxy,
    parse_install,
    render_config,
)
from iacorch.stack.services import LoadBalancer, Service
from moto_fixtures.testbed import open_testbed

NGINX_SITE = """\
server {{
    listen {port} reuseport;
    access_log off;
    keepalive_requests 1000000;
    location / {{ default_type text/plain; return 200 "{name}\\n"; }}
}}
"""
SLOW_REPLICA = """\
import asyncio, sys

DELAY, BODY = float(sys.argv[2]) / 1000, b"slow-1\\n"
ANSWER = b"HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: %d\\r\\n\\r\\n%s" % (len(BODY), BODY)


async def serve(reader, writer):
    try:
        while True:
            await reader.readuntil(b"\\r\\n\\r\\n")  # GET requests: no body
            await asyncio.sleep(DELAY)
            writer.write(ANSWER)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(serve, "0.0.0.0", int(sys.argv[1]), reuse_address=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"""
SLOW_PORT = 8090
PACE = "function delay()\n  return {ms}\nend\n"
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def parse_wrk(output: str) -> dict[str, float]:
    """p50 / p99 in ms, requests per second and errors from ``wrk --latency`` output."""
    figures: dict[str, float] = {"errors": 0.0}
    for line in output.splitlines():
        text = line.strip()
        percentile = re.match(r"^(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)$", text)
        if percentile:
            figures[f"p{percentile.group(1)}_ms"] = float(percentile.group(2)) * _UNITS[percentile.group(3)]
        elif text.startswith("Requests/sec:"):
            figures["rps"] = float(text.split()[1])
        elif text.startswith("Socket errors:"):  # connect 0, read 0, write 0, timeout 0
            figures["errors"] += sum(int(n) for n in re.findall(r"\d+", text))
        elif text.startswith("Non-2xx or 3xx responses:"):
            figures["errors"] += int(text.rsplit(":", 1)[1])
    if not {"p50_ms", "p99_ms", "rps"} <= figures.keys():
        raise RuntimeError(f"could not read wrk's output:\n{output}")
    return figures


def run_wrk(url: str, seconds: int, connections: int, script: Path | None) -> dict[str, float]:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script is not None:
        argv[1:1] = ["-s", str(script)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=True)
    return parse_wrk(done.stdout)


def prepare_app(ssh, vm, service_ms: float) -> None:
    """nginx with web-1 on 8081 and web-2 on 8082; the slow replica on 8090."""
    ssh.run(vm.address, Script.of(
        Command.of("apt-get", "-q", "update"),
        Command.of("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-q", "-y", "install",
                   "--no-install-recommends", "nginx", "python3"),
        Command.of("rm", "-f", "/etc/nginx/sites-enabled/default")), timeout=600)
    site = "".join(NGINX_SITE.format(port=port, name=name) for name, port in (("web-1", 8081), ("web-2", 8082)))
    ssh.upload(vm.address, site.encode(), "/etc/nginx/conf.d/bench.conf")
    ssh.upload(vm.address, SLOW_REPLICA.encode(), "/usr/local/bin/slow-replica.py")
    ssh.run(vm.address, Script.of(
        Command.of("systemctl", "restart", "nginx"),
        Command.of("systemd-run", "--unit=slow-replica", "--quiet", "python3", "/usr/local/bin/slow-replica.py",
                   str(SLOW_PORT), f"{service_ms:g}")))


def prepare_lb(ssh, vm, endpoints: list[tuple[str, str, int]], access_log: bool) -> None:
    """Deploy the LB in front of these endpoints and wait until HAProxy's checks pass."""
    services = {"web": Service(image="app", group="app", port=8081,
                               health={"http": "/", "interval": "2s", "healthy": 2, "unhealthy": 3})}
    config = haproxy_config({"public": LoadBalancer(group="edge", service="web")}, services, {"web": endpoints},
                            access_log=access_log)
    deploy_config(ssh, vm.address, render_config(config))
    api = RuntimeApi(ssh, vm.address)
    for name, _, _ in endpoints:
        api.wait_until_up("public.web", name, 30)


def summary(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in ("p50_ms", "p99_ms", "rps", "errors")}


def paced_rounds(urls: dict[str, str], args, pace: Path) -> dict[str, dict[str, float]]:
    """Alternate the paths for ``args.rounds`` rounds; the median figures of each path."""
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in urls}
    for url in urls.values():  # warm up
        run_wrk(url, 2, args.connections, pace)
    for round_number in range(args.rounds):
        for name, url in urls.items():
            runs[name].append(run_wrk(url, args.seconds, args.connections, pace))
            print(f"  round {round_number + 1} {name}: {runs[name][-1]}", file=sys.stderr)
    return runs


def comparison(runs: dict[str, list[dict[str, float]]]) -> dict[str, float]:
    """The LB's share added to p99: the median of the per-round ratios (a round's two runs are
    back to back, so a burst of other work on the machine mostly hits both), and how far the
    direct p99 itself moved between rounds (max / min): when that spread dwarfs the share, the
    verdict is noise."""
    ratios = [lb["p99_ms"] / direct["p99_ms"] for direct, lb in zip(runs["direct"], runs["lb"], strict=True)]
    direct_p99 = [run["p99_ms"] for run in runs["direct"]]
    return {"p99_added": statistics.median(ratios) - 1, "direct_p99_spread": max(direct_p99) / min(direct_p99),
            "p50_added_ms": statistics.median(lb["p50_ms"] - direct["p50_ms"]
                                              for direct, lb in zip(runs["direct"], runs["lb"], strict=True))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--pace-ms", type=int, default=4, help="pause per connection between requests")
    parser.add_argument("--service-ms", type=float, default=5.0,
                        help="second scenario: a replica that answers after this long")
    parser.add_argument("--no-access-log", dest="access_log", action="store_false",
                        help="render the LB without a log line per request")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="iacorch-bench-lb-"))
    pace = workdir / "pace.lua"
    pace.write_text(PACE.format(ms=args.pace_ms))
    started, load_before = time.monotonic(), os.getloadavg()
    testbed = open_testbed(workdir)
    scenarios: dict[str, dict[str, list[dict[str, float]]]] = {}
    try:
        with ThreadPoolExecutor(max_workers=2) as workers:
            lb, app = workers.map(testbed.create_vm, ["bench-lb", "bench-app"])
            app_ready = workers.submit(prepare_app, testbed.ssh, app, args.service_ms)
            version = parse_install(testbed.ssh.run(lb.address, install_haproxy(), timeout=600), lb.address.name)
            app_ready.result()
        nginx = [("web-1", app.ip, 8081), ("web-2", app.ip, 8082)]
        prepare_lb(testbed.ssh, lb, nginx[:1], args.access_log)
        print(f"setup {time.monotonic() - started:.0f}s: haproxy {version.version}, replicas on {app.ip}, "
              f"LB on {lb.ip}", file=sys.stderr)
        urls = {"direct": f"http://{app.ip}:8081/", "lb": f"http://{lb.ip}/"}
        print("replica answers at once (nginx return 200):", file=sys.stderr)
        scenarios["instant replica"] = paced_rounds(urls, args, pace)
        saturated = {name: run_wrk(url, args.seconds, args.connections, None) for name, url in urls.items()}
        prepare_lb(testbed.ssh, lb, nginx, args.access_log)
        saturated["lb, 2 replicas"] = run_wrk(urls["lb"], args.seconds, args.connections, None)
        prepare_lb(testbed.ssh, lb, [("slow-1", app.ip, SLOW_PORT)], args.access_log)
        delay = f"{args.service_ms:g}ms"
        print(f"replica answers after {delay} (asyncio server):", file=sys.stderr)
        scenarios[f"replica takes {delay}"] = paced_rounds({**urls, "direct": f"http://{app.ip}:{SLOW_PORT}/"},
                                                           args, pace)
    finally:
        problems = testbed.close()
        if problems:
            print("cleanup problems: " + "; ".join(problems), file=sys.stderr)
    load = f"load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after, {os.cpu_count()} cores"

    moderate = {scenario: {path: summary(figures) for path, figures in runs.items()}
                for scenario, runs in scenarios.items()}
    compared = {scenario: comparison(runs) for scenario, runs in scenarios.items()}
    if args.json:
        print(json.dumps({"settings": vars(args), "load": load, "moderate": moderate, "saturated": saturated,
                          "compared": compared}, indent=2))
        return 0
    print(f"\nwrk from this machine, keep-alive, {args.connections} connections, 2 threads. Moderate: each "
          f"connection pauses {args.pace_ms} ms between requests; median of {args.rounds} x {args.seconds}s runs "
          f"per path, paths alternating. The LB forwards to the one replica the direct runs hit; access log "
          f"{'on' if args.access_log else 'off'}. {load}.")
    print(f"{'':38}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    rows = [(f"moderate, {scenario}, {path}", figures) for scenario, paths in moderate.items()
            for path, figures in paths.items()]
    rows += [(f"saturated, {path}", figures) for path, figures in saturated.items()]
    for name, figures in rows:
        print(f"{name:38}{figures['rps']:>9.0f}{figures['p50_ms']:>9.3f}{figures['p99_ms']:>9.3f}"
              f"{figures['errors']:>8.0f}")
    print()
    for scenario, figures in compared.items():
        share, spread = figures["p99_added"], figures["direct_p99_spread"]
        noisy = f"; NOISY: the direct p99 alone varied {spread:.1f}x between rounds" if spread > 1.5 else ""
        print(f"{scenario}: the LB adds {figures['p50_added_ms']:+.3f} ms to p50 and {share * 100:+.1f}% to p99 "
              f"(median of per-round ratios) at moderate load: {'under' if share < 0.20 else 'NOT under'} the 20% "
              f"target{noisy}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
