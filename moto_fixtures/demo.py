"""`make demo`: stacks/demo.yaml on the local provider, end to end.

Four VMs (containers with systemd and sshd) come up on this machine's Docker
engine, Docker is installed in three of them over SSH with apt, the demo app
is built here and shipped to them, six replicas start, HAProxy on the edge VM
balances over them, and the app answers through it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STACK = os.path.join(ROOT, "stacks", "demo.yaml")
APP = os.path.join(ROOT, "stacks", "demo-app")


def prepare_demo_app(app_dir: str = APP) -> None:
    """The demo image is FROM scratch plus Debian's static busybox (no Docker Hub here)."""
    target = os.path.join(app_dir, "busybox")
    if os.path.exists(target):
        return
    source = shutil.which("busybox") or "/bin/busybox"
    info = subprocess.run(["file", "-L", source], capture_output=True, text=True).stdout if shutil.which("file") else ""
    if not os.path.exists(source) or (info and "statically linked" not in info):
        sys.exit("the demo app needs Debian's static busybox: apt-get install busybox-static")
    shutil.copy2(source, target)


def demo_stack_text(name: str) -> str:
    """stacks/demo.yaml as another stack (its own VMs, network and labels), with the demo app
    ready and the network's subnet left to Docker (so copies never collide); parse it with
    ``STACK`` as its path so ``build: ./demo-app`` still resolves."""
    prepare_demo_app()
    with open(STACK) as f:
        text = f.read()
    text = text.replace("stack: demo", f"stack: {name}", 1)
    return text.replace("network:\n  vpc: {cidr: 10.77.0.0/24}\n", "")


def iacorch(*args: str, capture: bool = False) -> str:
    print(f"\n$ iacorch {' '.join(os.path.relpath(a, ROOT) if a.startswith(ROOT) else a for a in args)}",
          flush=True)
    done = subprocess.run([sys.executable, "-m", "iacorch.cli", *args], text=True,
                          stdout=subprocess.PIPE if capture else None)
    if done.returncode != 0:
        sys.exit(f"demo failed: iacorch {' '.join(args)} exited {done.returncode}")
    return done.stdout or ""


def main() -> None:
    prepare_demo_app()
    iacorch("apply", STACK, "--auto-approve")
    iacorch("status", STACK)
    status = json.loads(iacorch("status", STACK, "--json", capture=True))
    hosts = {h["name"]: h["address"] for h in status["hosts"]}
    print("\nEach replica answers (straight to the replica: VM address and its published port):")
    for replica in status["services"]["web"]["replicas"]:
        url = f"http://{hosts[replica['host']]}:{replica['port']}/"
        with urllib.request.urlopen(url, timeout=5) as response:
            print(f"  {url:28} -> {response.read().decode().strip()}")
    url = status["load_balancers"]["public"]["url"]
    print(f"\nThrough the load balancer ({url}), round robin over the replicas:")
    for _ in range(6):
        with urllib.request.urlopen(url + "/", timeout=5) as response:
            print(f"  GET {url}/ -> {response.read().decode().strip()}")
    print(f"\nThe stack keeps running. Change it with `iacorch apply {os.path.relpath(STACK)} --var version=v2`,"
          f" remove it with `iacorch destroy {os.path.relpath(STACK)}`.")


if __name__ == "__main__":
    main()
