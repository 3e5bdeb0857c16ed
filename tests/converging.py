"""Plan and apply through the real engine, for the provider suites (tests/aws, tests/gcp)."""

from __future__ import annotations

from collections.abc import Callable

from iacorch.engine import Engine
from iacorch.plan import Plan
from iacorch.stack.load import StackFile


def converging(engine_for: Callable[[StackFile], Engine]):
    """``converge(sf)`` (observe, plan, apply; the apply must succeed; returns the plan it ran)
    and ``pending(sf)`` (what a plan would do now), for engines made by ``engine_for``."""

    def converge(sf: StackFile, *, destroy: bool = False) -> Plan:
        engine = engine_for(sf)
        observed = engine.observe()
        plan = engine.plan(observed, destroy=destroy)
        result = engine.apply(plan, observed)
        assert result.outcome.ok, result.outcome.failed + result.outcome.skipped
        return plan

    def pending(sf: StackFile, *, destroy: bool = False) -> Plan:
        engine = engine_for(sf)
        return engine.plan(engine.observe(), destroy=destroy)

    return converge, pending
