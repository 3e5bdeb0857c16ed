"""Benchmark: converge 1, 3 and 6 VMs from nothing on the local provider, then a no-change re-apply.

    python bench/converge_hosts.py [--sizes 1,3,6]

For each size N: the demo stack with N VMs and 2N replicas of the demo app is
applied from nothing (VM up, Docker installed over SSH with apt, image built
and shipped, replicas started and healthy), then applied again with nothing
to change, then destroyed. Each run happens in a fresh process; the figures
are wall time per phase (when the last step of that kind finished, counted
from the start of apply), the controller's CPU seconds (its own, and its child
processes': the docker CLI, docker build/save) and its peak memory.

Targets: the no-change re-apply of the 3-VM demo under 2 s; from nothing,
3 VMs under 45 s and 6 VMs under 80 s, VM creation included. The VM base image
is built once per recipe and cached; its one-time build is reported separately.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time

CHILD = textwrap.dedent("""\
    import json, resource, sys, time, threading
    from iacorch.engine import Engine
    from iacorch.report import RecordingReporter
    from iacorch.stack.load import load_stack
    from providers import open_provider

    class Timed(RecordingReporter):
        def __init__(self):
            super().__init__(); self.t0 = time.monotonic(); self.done = {}
        def finished(self, what, seconds, detail=""):
            op, address = what.split(" ", 1)
            kind = ("vm" if address.startswith("group.") else "docker" if address.startswith("docker@")
                    else "build" if address.startswith("build.") else "image" if address.startswith("image.")
                    else "containers" if address.startswith("service.") else "network")
            self.done[kind] = time.monotonic() - self.t0

    def usage():
        s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return s.ru_utime + s.ru_stime, c.ru_utime + c.ru_stime

    def run(destroy=False):
        rep = Timed()
        sf = load_stack(sys.argv[1])
        cpu0 = usage(); t0 = time.monotonic()
        with Engine(sf, open_provider(sf), rep) as engine:
            observed = engine.observe()
            plan = engine.plan(observed, destroy=destroy)
            t_plan = time.monotonic() - t0
            result = engine.apply(plan, observed) if plan.has_changes else None
        wall = time.monotonic() - t0
        cpu1 = usage()
        ok = result is None or (result.outcome.ok and not result.unreachable)
        failed = [] if result is None else [e for _, e in result.outcome.failed]
        return {"wall": wall, "plan": t_plan, "changes": len(plan.actionable), "phases": rep.done,
                "cpu_self": cpu1[0] - cpu0[0], "cpu_children": cpu1[1] - cpu0[1], "ok": ok, "failed": failed}

    out = {"from_nothing": run()}
    out["no_change"] = run()
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["destroy"] = run(destroy=True)
    print(json.dumps(out))
""")


def stack_text(name: str, n: int, app_dir: str) -> str:
    return textwrap.dedent(f"""\
        stack: {name}
        provider: {{local: {{}}}}
        launch_templates:
          vm: {{ssh: {{user: root}}}}
        groups:
          app: {{template: vm, size: {n}}}
        services:
          web:
            build: {app_dir}
            group: app
            replicas: {2 * n}
            port: 8080
            env: {{VERSION: v1}}
            health: {{http: /healthz, interval: 1s, timeout: 1s, unhealthy: 2, deadline: 30s}}
        """)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,3,6")
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, root)
    from moto_fixtures.demo import prepare_demo_app
    from providers.local import Recipe, ensure_base_image
    from providers.local.base_image import image_exists
    from providers.local.docker_cli import DockerCli

    prepare_demo_app()
    recipe = Recipe.load()
    docker = DockerCli()
    if image_exists(docker, recipe.tag):
        print(f"VM base image {recipe.tag}: cached (built once per recipe)")
    else:
        t = time.monotonic()
        ensure_base_image(docker, recipe)
        print(f"VM base image {recipe.tag}: built in {time.monotonic() - t:.1f}s (once per recipe)")
    home = tempfile.mkdtemp(prefix="iacorch-bench-hosts-")
    env = {**os.environ, "IACORCH_HOME": home}
    print(f"{'VMs':>3} {'replicas':>8} {'from nothing s':>14} {'VMs up':>7} {'docker':>7} {'image':>6} "
          f"{'replicas':>8} | {'no-change s':>11} | {'CPU self s':>10} {'CPU children s':>14} {'peak MB':>7}")
    for n in (int(x) for x in args.sizes.split(",")):
        path = os.path.join(home, f"bench-{n}.yaml")
        with open(path, "w") as f:
            f.write(stack_text(f"bench{n}", n, os.path.join(root, "stacks", "demo-app")))
        done = subprocess.run([sys.executable, "-c", CHILD, path], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(done.stderr[-3000:])
        r = json.loads(done.stdout)
        first, again = r["from_nothing"], r["no_change"]
        if not first["ok"] or again["changes"]:
            sys.exit(f"N={n}: apply failed or did not converge: {first['failed']} / {again['changes']} changes left")
        p = first["phases"]
        print(f"{n:>3} {2 * n:>8} {first['wall']:>14.1f} {p.get('vm', 0):>7.1f} {p.get('docker', 0):>7.1f} "
              f"{p.get('image', 0):>6.1f} {p.get('containers', 0):>8.1f} | {again['wall']:>11.2f} | "
              f"{first['cpu_self'] + again['cpu_self']:>10.1f} {first['cpu_children'] + again['cpu_children']:>14.1f} "
              f"{r['peak_rss_mb']:>7.0f}")


if __name__ == "__main__":
    main()
