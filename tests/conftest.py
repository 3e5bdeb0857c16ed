"""Shared test setup: a private IACORCH_HOME per session, and the offline cloud fixtures."""

from __future__ import annotations

import os
import tempfile

import pytest

pytest_plugins = ["moto_fixtures.aws"]

_home = tempfile.mkdtemp(prefix="iacorch-test-home-")
os.environ["IACORCH_HOME"] = _home
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture
def iacorch_home() -> str:
    return _home
