"""Golden GCP planner cases: (desired stack, observed state) -> expected plan, as files. Pure.

Each directory under golden/ holds desired.yaml, observed.json (recorded from
the local GCE API by record_golden.py) and expected_plan.json. Set
UPDATE_GOLDEN=1 to rewrite expected plans after an intended change, then
review the diff.
"""

from __future__ import annotations

import json
import os
import pathlib

import pytest

from iacorch.planner import plan
from iacorch.resources import observed_from_json
from iacorch.stack.load import load_stack
from providers.gcp.model import GcpModel

CASES = pathlib.Path(__file__).resolve().parent / "golden"
TEST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFGasxJSZtcAkW/hMIIK3GJ/uxrKMkcURUVPcEWe3nmi golden-planner-test-key"


def model_for(stack) -> GcpModel:
    return GcpModel({name: TEST_KEY for name in stack.launch_templates})


def expected_view(p) -> dict:
    data = p.to_json()
    return {"summary": data["summary"], "notes": data["notes"], "changes": data["changes"]}


@pytest.mark.parametrize("case", sorted(d.name for d in CASES.iterdir() if d.is_dir()))
def test_golden(case):
    d = CASES / case
    sf = load_stack(str(d / "desired.yaml"))
    observed = observed_from_json(json.loads((d / "observed.json").read_text()))
    got = expected_view(plan(sf.stack, observed, model_for(sf.stack)))
    expected_file = d / "expected_plan.json"
    if os.environ.get("UPDATE_GOLDEN"):
        expected_file.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    assert got == json.loads(expected_file.read_text())
