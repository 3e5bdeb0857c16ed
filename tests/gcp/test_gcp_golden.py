"""Golden GCP planner cases under golden/ (recorded from the local GCE API by
record_golden.py): see tests/golden_plans.py."""

from __future__ import annotations

import pathlib

import pytest
from golden_plans import TEST_KEY, case_names, check_case

from providers.gcp.model import GcpModel

CASES = pathlib.Path(__file__).resolve().parent / "golden"


def model_for(stack) -> GcpModel:
    return GcpModel({name: TEST_KEY for name in stack.launch_templates})


@pytest.mark.parametrize("case", case_names(CASES))
def test_golden(case):
    check_case(CASES / case, model_for)
