"""Benchmark: `plan` for stacks of 10, 100 and 1000 instances against a moto server.

    python bench/plan_scale.py [--sizes 10,100,1000]

For each size it applies the stack once (setup, not measured), then runs a
plan in a fresh process and prints the API requests it made (by operation),
the wall time and the peak memory (max RSS) of that process. Targets: requests
grow with pages, not resources (at most types x pages + a constant); the
1000-instance plan under 5 s and under 300 MB. "(moto s)" is how long the
moto server alone takes to answer the same requests (replayed raw, unparsed):
the part of the observe time that is the simulated API, not iacorch.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time

STACK = textwrap.dedent("""\
    stack: bench-{n}
    provider: {{aws: {{region: us-east-1}}}}
    network:
      vpc: {{cidr: 10.50.0.0/16}}
      subnets:
        a: {{cidr: 10.50.0.0/21, zone: us-east-1a, public: true}}
        b: {{cidr: 10.50.8.0/21, zone: us-east-1b, public: true}}
    security_groups:
      app: {{ingress: [{{ports: [22, 8080], from: 0.0.0.0/0}}]}}
    launch_templates:
      node: {{image: ami-12345678, instance_type: t3.micro, ssh: {{user: admin}}}}
    groups:
      app: {{template: node, subnets: [a, b], security_groups: [app], size: {n}}}
""")

CHILD = textwrap.dedent("""\
    import json, sys, time, resource
    t0 = time.perf_counter()
    from iacorch.engine import Engine
    from iacorch.report import RecordingReporter
    from iacorch.stack.load import load_stack
    from providers.aws import AwsProvider
    sf = load_stack(sys.argv[1])
    provider = AwsProvider(sf)
    sent = []
    provider.session.client("ec2").meta.events.register(
        "before-send", lambda request, **_: sent.append((request.url, dict(request.headers), request.body)))
    t1 = time.perf_counter()
    engine = Engine(sf, provider, RecordingReporter())
    observed = engine.observe()
    t2 = time.perf_counter()
    plan = engine.plan(observed)
    t3 = time.perf_counter()
    # the same requests again, raw and unparsed: how long the moto server itself takes to answer them
    import urllib.request
    server_s = 0.0
    for url, headers, body in sent:
        req = urllib.request.Request(url, data=body if isinstance(body, bytes) else (body or "").encode(),
                                     headers={k: v.decode() if isinstance(v, bytes) else v for k, v in headers.items()})
        s0 = time.perf_counter()
        urllib.request.urlopen(req).read()
        server_s += time.perf_counter() - s0
    print(json.dumps({"server_s": server_s,"startup_s": t1 - t0, "observe_s": t2 - t1, "plan_s": t3 - t2, "total_s": t3 - t0,
                      "calls": dict(provider.calls), "changes": len(plan.actionable),
                      "resources": len(observed.resources),
                      "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,100,1000")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    home = tempfile.mkdtemp(prefix="iacorch-bench-")
    server = subprocess.Popen([sys.executable, "-m", "moto_fixtures.aws", "0"], stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    url = line.split(" on ", 1)[1].split(";", 1)[0].strip()
    env = {**os.environ, "AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1", "IACORCH_HOME": home}
    print(f"moto server at {url} (separate process; its memory is not counted)")
    print(f"{'instances':>9} {'resources':>9} {'requests':>8} {'observe s':>9} {'(moto s)':>8} {'plan s':>7} "
          f"{'total s':>8} {'max RSS MB':>10}  requests by operation")
    try:
        for n in sizes:
            path = os.path.join(home, f"bench-{n}.yaml")
            with open(path, "w") as f:
                f.write(STACK.format(n=n))
            t = time.perf_counter()
            for attempt in range(3):  # moto's server sometimes answers 500 under load; apply converges
                setup = subprocess.run([sys.executable, "-m", "iacorch.cli", "apply", path, "--auto-approve",
                                        "--json"], env=env, capture_output=True, text=True)
                if setup.returncode == 0:
                    break
                print(f"  setup apply for {n} failed (attempt {attempt + 1}), applying again: "
                      f"{setup.stderr.strip().splitlines()[-2][:160]}")
            else:
                sys.exit(f"setup apply failed for {n}: {setup.stderr[-2000:]}")
            setup_s = time.perf_counter() - t
            child = subprocess.run([sys.executable, "-c", CHILD, path], env=env, capture_output=True, text=True)
            if child.returncode != 0:
                sys.exit(child.stderr)
            r = json.loads(child.stdout)
            assert r["changes"] == 0, f"plan after apply should be empty, got {r['changes']} changes"
            total = sum(r["calls"].values())
            by_op = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in sorted(r["calls"].items()))
            print(f"{n:>9} {r['resources']:>9} {total:>8} {r['observe_s']:>9.2f} {r['server_s']:>8.2f} "
                  f"{r['plan_s']:>7.2f} "
                  f"{r['total_s']:>8.2f} {r['max_rss_mb']:>10.0f}  {by_op}   (setup apply {setup_s:.0f}s)")
    finally:
        server.terminate()
        server.wait()
    print(f"peak child RSS of all runs: {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MB"
          " (includes the setup applies)")


if __name__ == "__main__":
    main()
