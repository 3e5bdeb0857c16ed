"""Shared e2e helpers: copies of the example stacks under unique names, and the CLI."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import secrets
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


# every stack name handed out in this process: the session's end sweeps what a failed teardown left
NAMES: set[str] = set()


def unique_name(prefix: str) -> str:
    name = f"{prefix}-{secrets.token_hex(3)}"
    NAMES.add(name)
    return name


def sweep_stacks() -> dict[str, list[str]]:
    """Remove the VMs, volumes and networks of every stack this process named; returns what was
    still there (a teardown that failed), by stack."""
    from providers.local.docker_cli import DockerCli
    from providers.local.machines import LocalMachines

    if not NAMES:
        return {}
    machines = LocalMachines(DockerCli())
    found = {}
    for name in sorted(NAMES):
        left = [vm.name for vm in machines.observe({"iacorch.stack": name})]
        left += machines.volumes({"iacorch.stack": name}) + machines.networks({"iacorch.stack": name})
        if left:
            machines.remove_stack(name)
            found[name] = left
    return found


def demo_stack_file(tmp: pathlib.Path, name: str, *, replicas: int = 6, hosts: int = 3) -> pathlib.Path:
    """stacks/demo.yaml under another stack name (so VMs, networks and labels do not collide)."""
    from moto_fixtures.demo import demo_stack_text

    text = demo_stack_text(name).replace("build: ./demo-app", f"build: {ROOT / 'stacks' / 'demo-app'}")
    text = text.replace("replicas: 6", f"replicas: {replicas}").replace("size: 3}", f"size: {hosts}}}")
    path = tmp / f"{name}.yaml"
    path.write_text(text)
    return path


def reference_stack(tmp: pathlib.Path, name: str) -> pathlib.Path:
    """A copy of stacks/NAME.yaml whose build context still points at stacks/demo-app."""
    from moto_fixtures.demo import prepare_demo_app

    prepare_demo_app()
    path = tmp / f"{name}.yaml"
    path.write_text((ROOT / "stacks" / f"{name}.yaml").read_text().replace(
        "build: ./demo-app", f"build: {ROOT / 'stacks' / 'demo-app'}"))
    return path


@contextlib.contextmanager
def destroyed_at_end(cli: Cli, stack: pathlib.Path, binder):
    """Destroy the stack when the block ends, wait for the binder to drop its VMs, and check it had no errors."""
    from moto_fixtures.binder import wait_until

    try:
        yield
    finally:
        cli("destroy", stack, "--auto-approve", check=False)
        wait_until(lambda: not binder.vms, timeout=60)
        assert not binder.errors, binder.errors


class Cli:
    """Runs `iacorch` as a user would, with its own IACORCH_HOME."""

    def __init__(self, home: pathlib.Path, env: dict[str, str] | None = None) -> None:
        self.env = {**os.environ, "IACORCH_HOME": str(home), **(env or {})}

    def __call__(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "iacorch.cli", *map(str, args)], capture_output=True,
                              text=True, env=self.env, timeout=timeout, cwd=ROOT)
        if check and done.returncode != 0:
            raise AssertionError(f"iacorch {' '.join(map(str, args))} exited {done.returncode}:\n"
                                 f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done

    def status(self, stack: pathlib.Path) -> dict:
        return json.loads(self("status", stack, "--json").stdout)
