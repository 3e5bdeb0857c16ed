"""Benchmark: roll the demo's 6 replicas from v1 to v2 under constant load through HAProxy.

    python bench/rollout.py [--rate 800] [--seconds 40]

Sets up a copy of stacks/demo.yaml (3 app VMs, an edge VM with HAProxy, 6 replicas of
v1) on the local provider, then runs wrk on the load balancer from this machine
(keep-alive, paced to --rate requests/s) while it applies version v2, and prints:

- failed requests (non-2xx and broken connections; target 0), and how many came from each version;
- the rollout's duration (the apply's executor phase);
- its ratio to the theoretical minimum, batches x (container start + time to pass health),
  where each batch's start and health times are the slowest replica's in it, as measured
  (target: at most 1.5).

The stack is destroyed at the end.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=800.0, help="requests per second from wrk")
    ap.add_argument("--seconds", type=int, default=40, help="how long wrk runs (it must cover the rollout)")
    args = ap.parse_args()
    os.environ["IACORCH_HOME"] = tempfile.mkdtemp(prefix="iacorch-bench-rollout-")

    from iacorch.engine import Engine
    from iacorch.report import RecordingReporter
    from iacorch.stack.load import load_text
    from moto_fixtures.demo import STACK, demo_stack_text
    from moto_fixtures.load import WrkRun
    from providers import open_provider

    name = f"bench-roll-{secrets.token_hex(2)}"
    text = demo_stack_text(name)

    def engine(version: str) -> Engine:
        sf = load_text(text, STACK, overrides={"version": version})
        return Engine(sf, open_provider(sf), RecordingReporter())

    def converge(version: str, *, destroy: bool = False):
        with engine(version) as e:
            observed = e.observe()
            plan = e.plan(observed, destroy=destroy)
            result = e.apply(plan, observed)
            if not result.ok:
                sys.exit(f"apply failed: {[err for _, err in result.outcome.failed]}")
            return e, plan, result

    t = time.monotonic()
    converge("v1")
    print(f"setup: {name} with v1 on 3 app VMs + an edge VM in {time.monotonic() - t:.0f}s")
    try:
        with engine("v1") as e:
            observed = e.observe()
            url = e.balancers.status(observed)["public"]["url"] + "/"
        with engine("v2") as e:
            observed = e.observe()
            plan = e.plan(observed)
            batches = max(c.batch for c in plan.actionable if c.kind == "container")
            with WrkRun(url, seconds=args.seconds, connections=8, rate=args.rate) as load:
                time.sleep(3)
                result = e.apply(plan, observed)
                timings = dict(e.hosts.steps.timings)
        load_result = load.result()
        if not result.ok:
            sys.exit(f"the rollout failed: {[err for _, err in result.outcome.failed]}")
        by_batch: dict[int, list] = {}
        for c in plan.actionable:
            if c.kind == "container" and c.address in timings:
                by_batch.setdefault(c.batch, []).append(timings[c.address])
        minimum = sum(max(t.started + t.ready for t in ts) for ts in by_batch.values())
        starts = [t.started for ts in by_batch.values() for t in ts]
        healths = [t.ready for ts in by_batch.values() for t in ts]
        print(f"load: wrk on {url}, keep-alive, 8 connections, paced to {args.rate:.0f}/s for {args.seconds}s")
        print(f"  requests: {load_result.requests}  failed: {load_result.failed}  by version: "
              f"{load_result.versions}  p50 {load_result.p50_ms:.1f} ms  p99 {load_result.p99_ms:.1f} ms")
        print(f"rollout: 6 replicas v1 -> v2 in {batches} batch(es): {result.seconds:.1f}s")
        print(f"  container start: mean {sum(starts) / len(starts):.2f}s; time to pass health (Docker and "
              f"HAProxy): mean {sum(healths) / len(healths):.2f}s")
        print(f"  theoretical minimum (sum over batches of start + health): {minimum:.1f}s")
        print(f"  ratio: {result.seconds / minimum:.2f} (target <= 1.5); failed requests: {load_result.failed} "
              f"(target 0); requests {load_result.requests} (>= 10000)")
    finally:
        converge("v2", destroy=True)


if __name__ == "__main__":
    main()
