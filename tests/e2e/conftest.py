"""e2e tests run on real VMs from the testbed (moto_fixtures.testbed)."""

from __future__ import annotations

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))  # e2e_stacks

from e2e_stacks import sweep_stacks
from moto_fixtures.testbed import TIMINGS, ssh_pool, testbed_vms, vm_testbed  # noqa: F401  (fixtures)


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    timings = config.stash.get(TIMINGS, None)
    if not timings:
        return
    terminalreporter.section("VM testbed timings")
    for what, values in sorted(timings.items()):
        shown = ", ".join(f"{value:.3f}" for value in values[:12]) + (" ..." if len(values) > 12 else "")
        terminalreporter.write_line(f"{what}: {shown}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # a teardown that failed (its test already says why) must not leave VMs or volumes behind
    left = sweep_stacks()
    if left:
        print(f"\nremoved what failed teardowns left: {left}", file=sys.stderr)
