"""`make demo-aws`: stacks/aws-web.yaml against an embedded moto server, with real hosts.

moto stands in for the EC2 API; moto_fixtures.binder backs each of its
instances with a testbed VM (a container with systemd and sshd), so Docker is
installed over SSH and the service runs for real. The same commands work
against real AWS without the binder (and without AWS_ENDPOINT_URL).

Steps: plan -> apply -> plan (no changes) -> status -> the replicas answer -> destroy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from moto_fixtures.aws import MotoServer
from moto_fixtures.binder import MotoHostBinder, wait_until
from moto_fixtures.demo import prepare_demo_app
from moto_fixtures.testbed import open_testbed

STACK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "stacks", "aws-web.yaml")


def step(title: str, *args: str, env: dict[str, str], ok=(0,), capture: bool = False) -> str:
    print(f"\n$ iacorch {' '.join(args)}    # {title}", flush=True)
    done = subprocess.run([sys.executable, "-m", "iacorch.cli", *args], env=env, text=True,
                          stdout=subprocess.PIPE if capture else None)
    if done.returncode not in ok:
        sys.exit(f"demo failed: `iacorch {' '.join(args)}` exited {done.returncode}")
    return done.stdout or ""


def main() -> None:
    prepare_demo_app()
    work = Path(tempfile.mkdtemp(prefix="iacorch-demo-aws-"))
    server = MotoServer().start()
    bindings = work / "bindings.json"
    env = {**os.environ, **server.env(), "IACORCH_HOME": str(work / "home"),
           "IACORCH_HOST_BINDINGS": str(bindings)}
    print(f"moto server on {server.url} stands in for the EC2 API; each instance gets a real VM")
    testbed = open_testbed(work)
    try:
        step("what would change", "plan", STACK, "--detailed-exitcode", env=env, ok=(2,))
        key = (work / "home" / "stacks" / "aws-web" / "id_ed25519.pub").read_text()
        with MotoHostBinder(testbed, server.url, bindings, key) as binder:
            step("make it so: VPC, instances, Docker over SSH, the service", "apply", STACK, "--auto-approve",
                 env=env)
            step("a second plan changes nothing", "plan", STACK, "--detailed-exitcode", env=env)
            step("what exists", "status", STACK, env=env)
            status = json.loads(step("", "status", STACK, "--json", env=env, capture=True))
            ips = {h["name"]: binder.vm_of(h["id"]).ip for h in status["hosts"] if h["id"] in binder.vms}
            print("\nEach replica answers (on the VM behind its moto instance):")
            for r in status["services"]["web"]["replicas"]:
                url = f"http://{ips[r['host']]}:{r['port']}/"
                with urllib.request.urlopen(url, timeout=5) as response:
                    print(f"  {url:28} -> {response.read().decode().strip()}")
            step("remove everything the stack owns", "destroy", STACK, "--auto-approve", env=env)
            wait_until(lambda: not binder.vms, timeout=60)
    finally:
        problems = testbed.close()
        server.stop()
        if problems:
            sys.exit("cleanup problems: " + "; ".join(problems))


if __name__ == "__main__":
    main()
