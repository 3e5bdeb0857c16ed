"""`make demo-aws`: plan -> apply -> plan -> destroy of
stacks/aws-web.yaml against an embedded moto server on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from moto_fixtures.aws import MotoServer

STACK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "stacks", "aws-web.yaml")


def step(title: str, *args: str, env: dict[str, str], ok=(0,)) -> None:
    print(f"\n$ iacorch {' '.join(args)}    # {title}", flush=True)
    code = subprocess.call([sys.executable, "-m", "iacorch.cli", *args], env=env)
    if code not in ok:
        sys.exit(f"demo failed: `iacorch {' '.join(args)}` exited {code}")


def main() -> None:
    server = MotoServer().start()
    env = {**os.environ, **server.env(), "IACORCH_HOME": tempfile.mkdtemp(prefix="iacorch-demo-")}
    print(f"moto server on {server.url} stands in for the AWS API")
    try:
        step("what would change", "plan", STACK, "--detailed-exitcode", env=env, ok=(2,))
        step("make it so", "apply", STACK, "--auto-approve", env=env)
        step("a second plan changes nothing", "plan", STACK, "--detailed-exitcode", env=env)
        step("what exists", "status", STACK, env=env)
        step("remove everything the stack owns", "destroy", STACK, "--auto-approve", env=env)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
