"""Golden AWS planner cases under cases/ (recorded from moto by record.py): see tests/golden_plans.py."""

from __future__ import annotations

import pathlib

import pytest

from golden_plans import TEST_KEY, case_names, check_case
from providers.aws.model import AwsModel

CASES = pathlib.Path(__file__).resolve().parent / "cases"


def model_for(stack) -> AwsModel:
    return AwsModel({name: TEST_KEY for name in stack.launch_templates})


@pytest.mark.parametrize("case", case_names(CASES))
def test_golden(case):
    check_case(CASES / case, model_for)
