"""The step graph and the executor: ordering, bounded parallelism, failures that skip only dependents."""

from __future__ import annotations

import threading
import time

import pytest

from iacorch.dag import graph, steps_of
from iacorch.errors import IacorchError, ProviderError
from iacorch.executor import execute
from iacorch.plan import Action, Change, Plan
from iacorch.addresses import group_of
from iacorch.provider import IdMap
from iacorch.report import RecordingReporter


def ch(address, action, *, deps=(), old_deps=(), cbd=False, batch=0, kind="thing"):
    return Change(address=address, kind=kind, action=Action(action), deps=tuple(deps), old_deps=tuple(old_deps),
                  create_before_destroy=cbd, batch=batch, id=f"id-{address}", after={}, before={})


def plan_of(*changes):
    return Plan(stack="s", provider="test", changes=tuple(changes), observed_fingerprint="x")


def order_of(changes):
    """Run serially and return the order of steps."""
    seen: list[str] = []
    outcome = execute(plan_of(*changes), lambda step, ids: seen.append(str(step)), IdMap(),
                      RecordingReporter(), parallelism=1)
    assert outcome.ok
    return seen


def test_creates_wait_for_what_they_refer_to():
    order = order_of([ch("b", "create", deps=["a"]), ch("a", "create"), ch("c", "create", deps=["b"])])
    assert order == ["create a", "create b", "create c"]


def test_deletes_go_in_reverse():
    order = order_of([ch("vpc", "delete"), ch("subnet", "delete", old_deps=["vpc"]),
                      ch("vm", "delete", old_deps=["subnet"])])
    assert order == ["delete vm", "delete subnet", "delete vpc"]


def test_create_before_destroy_replacement():
    order = order_of([ch("vm", "replace", cbd=True)])
    assert order == ["create vm", "delete vm"]


def test_destroy_first_replacement_and_its_dependents():
    order = order_of([ch("subnet", "replace"), ch("vm", "replace", deps=["subnet"], old_deps=["subnet"]),
                      ch("routes", "update", deps=["subnet"], old_deps=["subnet"])])
    assert order.index("delete vm") < order.index("delete subnet") < order.index("create subnet")
    assert order.index("create subnet") < order.index("create vm")
    assert order.index("create subnet") < order.index("update routes")


def test_referrer_updated_away_before_the_old_one_is_deleted():
    order = order_of([ch("sg", "replace", cbd=True), ch("vm", "update", deps=["sg"], old_deps=["sg"])])
    assert order == ["create sg", "update vm", "delete sg"]


def test_rolling_batches_run_in_order():
    changes = [ch(f"group.app[{i}]", "replace", cbd=True, batch=i + 1) for i in range(3)]
    order = order_of(changes)
    assert order == ["create group.app[0]", "delete group.app[0]", "create group.app[1]",
                     "delete group.app[1]", "create group.app[2]", "delete group.app[2]"]


def test_rolling_batches_never_overlap_even_with_parallelism():
    live = {"n": 3}
    low = {"n": 3}
    lock = threading.Lock()

    def run(step, ids):
        with lock:
            live["n"] += 1 if step.op == "create" else -1
            low["n"] = min(low["n"], live["n"])
        time.sleep(0.01)

    changes = [ch(f"group.app[{i}]", "replace", cbd=True, batch=i + 1) for i in range(3)]
    assert execute(plan_of(*changes), run, IdMap(), RecordingReporter(), parallelism=10).ok
    assert low["n"] >= 3


def test_parallelism_is_bounded():
    running = {"now": 0, "max": 0}
    lock = threading.Lock()

    def run(step, ids):
        with lock:
            running["now"] += 1
            running["max"] = max(running["max"], running["now"])
        time.sleep(0.02)
        with lock:
            running["now"] -= 1

    changes = [ch(f"r{i}", "create") for i in range(20)]
    assert execute(plan_of(*changes), run, IdMap(), RecordingReporter(), parallelism=4).ok
    assert running["max"] == 4


def test_a_failure_skips_only_its_dependents_and_names_the_address():
    def run(step, ids):
        if step.change.address == "bad":
            raise ProviderError("quota exceeded")

    reporter = RecordingReporter()
    outcome = execute(plan_of(ch("bad", "create"), ch("child", "create", deps=["bad"]),
                              ch("grandchild", "create", deps=["child"]), ch("independent", "create")),
                      run, IdMap(), reporter, parallelism=2)
    assert [str(s) for s in outcome.done] == ["create independent"]
    assert [(str(s), e) for s, e in outcome.failed] == [("create bad", "bad: quota exceeded")]
    assert sorted(str(s) for s, _ in outcome.skipped) == ["create child", "create grandchild"]


def test_created_ids_reach_dependents():
    seen = {}

    def run(step, ids):
        if step.change.address == "vpc":
            return "vpc-123"
        seen["vpc"] = ids["vpc"]

    execute(plan_of(ch("vpc", "create"), ch("subnet", "create", deps=["vpc"])), run, IdMap(),
            RecordingReporter())
    assert seen == {"vpc": "vpc-123"}


def test_a_cycle_is_reported_not_hung():
    with pytest.raises(IacorchError, match="cycle"):
        graph([ch("a", "create", deps=["b"]), ch("b", "create", deps=["a"])], group_of)


def test_noops_make_no_steps():
    assert steps_of([ch("a", "noop"), ch("b", "create")]).keys() == {("b", "create")}
