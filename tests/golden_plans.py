"""Golden planner cases, shared by the AWS (tests/planner) and GCE (tests/gcp) suites.

A case is a directory holding desired.yaml, observed.json (recorded from the cloud's fake
by each suite's recorder) and expected_plan.json. The planner is pure, so the cases run
without any cloud. Set UPDATE_GOLDEN=1 to rewrite expected plans after an intended change,
then review the diff.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Callable

from iacorch.planner import plan
from iacorch.resources import Observed, observed_from_json, observed_to_json
from iacorch.stack.load import load_stack

TEST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFGasxJSZtcAkW/hMIIK3GJ/uxrKMkcURUVPcEWe3nmi golden-planner-test-key"

ModelFor = Callable[[object], object]  # stack -> the provider's pure model


def case_names(root: pathlib.Path) -> list[str]:
    return sorted(d.name for d in root.iterdir() if d.is_dir())


def expected_view(p) -> dict:
    data = p.to_json()
    return {"summary": data["summary"], "notes": data["notes"], "changes": data["changes"]}


def planned(case: pathlib.Path, observed: Observed, model_for: ModelFor) -> dict:
    desired = load_stack(str(case / "desired.yaml"))
    return expected_view(plan(desired.stack, observed, model_for(desired.stack)))


def check_case(case: pathlib.Path, model_for: ModelFor) -> None:
    """The plan for the case's desired stack against its observed state is its expected plan."""
    got = planned(case, observed_from_json(json.loads((case / "observed.json").read_text())), model_for)
    expected_file = case / "expected_plan.json"
    if os.environ.get("UPDATE_GOLDEN"):
        expected_file.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    assert got == json.loads(expected_file.read_text())


def write_case(case: pathlib.Path, observed: Observed, model_for: ModelFor) -> None:
    """A recorder's last step: the observed state and the plan it gives, next to desired.yaml."""
    (case / "observed.json").write_text(json.dumps(observed_to_json(observed), indent=2, sort_keys=True) + "\n")
    (case / "expected_plan.json").write_text(
        json.dumps(planned(case, observed, model_for), indent=2, sort_keys=True) + "\n")
    print(f"recorded {case}")
