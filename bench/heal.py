"""Benchmark: how fast the control loop heals, on the demo stack (local provider).

    python bench/heal.py [--kills 5]

Sets up a copy of stacks/demo.yaml (3 app VMs, an edge VM with HAProxy, 6 replicas, health
interval 1 s), runs the control loop in this process (``reconcile --watch`` with its
docker-events wakeups), and measures, sampling HAProxy's runtime API every 50 ms:

- ``docker kill`` of a replica -> that replica healthy again and UP in HAProxy, several times.
  Target: at most 2 x the health interval + the container's start, where the start is
  measured on the same VM (``docker start`` of a stopped replica until its process answers);
- ``docker stop`` of an app VM -> all 6 replicas UP in HAProxy again.

The stack is destroyed at the end.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=5)
    args = ap.parse_args()
    os.environ["IACORCH_HOME"] = tempfile.mkdtemp(prefix="iacorch-bench-heal-")

    from iacorch.command import Command
    from iacorch.engine import Engine
    from iacorch.haproxy import RuntimeApi
    from iacorch.reconcile.decide import Settings
    from iacorch.reconcile.loop import Reconciler
    from iacorch.report import RecordingReporter
    from iacorch.stack.load import load_text
    from moto_fixtures.demo import STACK, demo_stack_text
    from providers import open_provider
    from providers.local.docker_cli import DockerCli

    name = f"bench-heal-{secrets.token_hex(2)}"
    sf = load_text(demo_stack_text(name), STACK)
    docker = DockerCli()

    def engine() -> Engine:
        return Engine(sf, open_provider(sf), RecordingReporter())

    t = time.monotonic()
    with engine() as e:
        observed = e.observe()
        result = e.apply(e.plan(observed), observed)
        if not result.ok:
            sys.exit(f"apply failed: {[err for _, err in result.outcome.failed]}")
    print(f"setup: {name}, 6 replicas on 3 app VMs + an edge VM, in {time.monotonic() - t:.0f}s")
    probe = engine()
    lb = RuntimeApi(probe.pool, probe.provider.host_address("group.edge[0]"))
    loop = Reconciler(engine(), settings=Settings(restart_backoff=0.5))
    watcher = threading.Thread(target=loop.watch, args=(5.0,), daemon=True)
    try:
        def replicas():
            observed = probe.observe()
            return {a: i for a, i in observed.runtime["containers"].items() if "~" not in a}

        def up(servers: set[str] | None = None) -> set[str]:
            stats = lb.stats().backend("public.web")
            return {s.name for s in stats.servers if s.state == "UP" and s.checked_up
                    and (servers is None or s.name in servers)}

        def server_of(info) -> str:
            slot = "ab"[(info["host_port"] - 20000) % 2]
            return f"web-{info['name'].rsplit('-', 1)[1]}{slot}"

        def vm_of(host: str) -> str:
            return f"iacorch-{name}-{host.removeprefix('group.').replace('[', '-').rstrip(']')}"

        # the container's own start, measured on the same VMs before the loop runs
        starts = []
        for _ in range(3):
            info = replicas()["service.web[0]"]
            host = probe.provider.host_address(info["host"])
            probe.pool.run(host, Command.of("docker", "stop", "--time", "1", info["name"]))
            t0 = time.monotonic()
            probe.pool.run(host, Command.of("sh", "-c", 'docker start "$1" >/dev/null && '
                                            'until docker exec "$1" wget -qO- http://127.0.0.1:8080/healthz '
                                            '>/dev/null 2>&1; do sleep 0.02; done', "start", info["name"]))
            starts.append(time.monotonic() - t0)
            deadline = time.monotonic() + 30
            while server_of(info) not in up() and time.monotonic() < deadline:
                time.sleep(0.1)
        start = statistics.median(starts)
        interval = 1.0
        print(f"container start (docker start until the app answers, median of 3 over SSH): {start:.2f}s")
        watcher.start()  # the loop runs from here on
        time.sleep(3)

        heal = []
        for k in range(args.kills):
            all_now = replicas()
            address = f"service.web[{(k * 2 + 1) % 6}]"
            info = all_now[address]
            server = server_of(info)
            while server not in up():
                time.sleep(0.1)
            t0 = time.monotonic()
            docker.run(["exec", vm_of(info["host"]), "docker", "kill", info["name"]])
            went_down = False
            deadline = t0 + 60
            while time.monotonic() < deadline:
                if server not in up():
                    went_down = True
                elif went_down:
                    break
                time.sleep(0.05)
            heal.append(time.monotonic() - t0)
            print(f"  kill {address}: healthy and UP in HAProxy again after {heal[-1]:.2f}s")
            time.sleep(2)
        target = 2 * interval + start
        print(f"docker kill -> healthy in the LB: median {statistics.median(heal):.2f}s, max {max(heal):.2f}s "
              f"(target <= 2 x {interval:g}s + {start:.2f}s = {target:.2f}s)")

        everything = {server_of(i) for i in replicas().values()}
        host = "group.app[1]"
        t0 = time.monotonic()
        docker.run(["stop", "--time", "5", vm_of(host)])
        lowest, deadline = len(everything), t0 + 300
        time.sleep(1)
        while time.monotonic() < deadline:
            current = {server_of(i) for i in replicas().values()}
            serving = up(current)
            lowest = min(lowest, len(serving))
            if len(serving) == 6 and len(current) == 6:
                break
            time.sleep(0.25)
        print(f"VM {host} stopped -> 6 of 6 replicas UP in HAProxy again after {time.monotonic() - t0:.1f}s "
              f"(lowest seen: {lowest} of 6)")
        print("events:")
        for event in loop.log.read():
            print(f"  {event.subject:<18} {event.action:<10} {event.result:<8} {event.reason[:90]}")
    finally:
        loop.stop()
        if watcher.is_alive():
            watcher.join(timeout=60)
        loop.close()
        probe.close()
        with engine() as e:
            observed = e.observe()
            e.apply(e.plan(observed, destroy=True), observed)


if __name__ == "__main__":
    main()
