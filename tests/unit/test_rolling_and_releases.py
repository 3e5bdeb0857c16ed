"""Rolling updates as planned (batches, start-first or stop-first), canary holds, and rollback targets."""

from __future__ import annotations

import pytest

from iacorch.errors import IacorchError
from iacorch.hosts.containers import ContainerSpec
from iacorch.hosts.model import HostInputs, HostModel
from iacorch.hosts.releases import releases, rollback_targets
from iacorch.plan import Action, Change
from iacorch.resources import Observed, ObservedResource
from iacorch.rolling import assign_batches, rolling_notes, service_window
from iacorch.stack.load import load_text

STACK = """stack: s
provider: {local: {}}
launch_templates: {vm: {ssh: {}}}
groups: {app: {template: vm, size: 3}}
services:
  web:
    image: web:{{ v }}
    group: app
    replicas: 6
    port: 8080
    update: UPDATE
"""


def stack(update: str = "{}", v: str = "1"):
    return load_text(STACK.replace("UPDATE", update), "s.yaml", overrides={"v": v}, base_dir=".").stack


def replaces(n: int = 6, cbd: bool = True) -> list[Change]:
    return [Change(address=f"service.web[{i}]", kind="container", action=Action.REPLACE, create_before_destroy=cbd)
            for i in range(n)]


@pytest.mark.parametrize("update, window", [
    ("{}", (1, 0)),
    ("{max_surge: 2}", (2, 0)),
    ("{max_surge: 0, max_unavailable: 2}", (0, 2)),
    ("{max_surge: 1, max_unavailable: 1}", (1, 1)),
    ("{max_surge: 50%}", (3, 0)),
    ("{max_surge: 1, max_unavailable: 34%}", (1, 2)),
    ("{order: stop-first, max_surge: 0, max_unavailable: 1}", (0, 1)),
])
def test_service_window(update, window):
    assert service_window(stack(update), "web") == window


def test_default_rolls_one_replica_at_a_time_new_first():
    out = assign_batches(replaces(), stack())
    assert [c.batch for c in out] == [1, 2, 3, 4, 5, 6]
    assert all(c.create_before_destroy for c in out)
    note = rolling_notes(out, stack())[0]
    assert "in 6 batch(es)" in note and "never fewer than 6 serving" in note


def test_surge_and_unavailable_share_a_batch():
    out = assign_batches(replaces(), stack("{max_surge: 1, max_unavailable: 1}"))
    assert [c.batch for c in out] == [1, 1, 2, 2, 3, 3]
    assert [c.create_before_destroy for c in out] == [True, False] * 3
    assert "never fewer than 5 serving" in rolling_notes(out, stack())[0]


def test_fixed_host_ports_always_stop_first():
    out = assign_batches(replaces(cbd=False), stack("{max_surge: 2}"))
    assert not any(c.create_before_destroy for c in out)


def test_recreate_replaces_everything_at_once_stop_first():
    out = assign_batches(replaces(), stack("{strategy: recreate}"))
    assert {c.batch for c in out} == {0} and not any(c.create_before_destroy for c in out)
    assert "recreate" in rolling_notes(out, stack("{strategy: recreate}"))[0]


def _observed_replicas(releases_by_replica: dict[int, str]) -> Observed:
    resources = {f"service.web[{i}]": ObservedResource(
        f"service.web[{i}]", "container", f"id{i}",
        {"host": f"group.app[{i % 3}]", "release": rel, "host_port": 20000 + 2 * (i // 3)})
        for i, rel in releases_by_replica.items()}
    return Observed("s", "local", resources)


def test_a_canary_holds_the_other_replicas_until_promoted():
    old = ContainerSpec.of("s", "web", stack(v="1").services["web"], 0, "web:1").release
    new_stack = stack("{canary: 2}", v="2")
    model = HostModel(HostInputs())
    observed = _observed_replicas({i: old for i in range(6)})
    notes: list[str] = []
    new = model.canary_release(new_stack, "web")
    held = model._canary_hold("web", new_stack.services["web"], new, observed, notes)
    assert sorted(held) == [f"service.web[{i}]" for i in range(2, 6)]
    assert "canary" in notes[0] and "iacorch promote" in notes[0]
    # two replicas on the new release already: the other four wait
    halfway = _observed_replicas({0: new, 1: new, 2: old, 3: old, 4: old, 5: old})
    assert len(model._canary_hold("web", new_stack.services["web"], new, halfway, [])) == 4
    assert model.promoting(["web"])._canary_hold("web", new_stack.services["web"], new, halfway, []) == {}
    assert model.canary_holds(new_stack, halfway) == {"web": [f"service.web[{i}]" for i in range(2, 6)]}
    # a first deploy has no old release to hold
    assert model._canary_hold("web", new_stack.services["web"], new, Observed("s", "local"), []) == {}


def _runtime(active: dict[int, str], kept: dict[int, list[str]]) -> Observed:
    containers = {f"service.web[{i}]": {"host": f"group.app[{i % 3}]", "release": r, "image": f"web:{r}",
                                        "started_at": f"2026-11-22T05:0{i}:00", "name": f"s-web-{i}",
                                        "host_port": 20000}
                  for i, r in active.items()}
    retained = {f"service.web[{i}]": [{"host": f"group.app[{i % 3}]", "release": r, "image": f"web:{r}",
                                       "started_at": f"2026-11-21T0{n}:00:00", "name": f"s-web-{i}.{r}-20001",
                                       "host_port": 20001} for n, r in enumerate(rs)]
                for i, rs in kept.items()}
    return Observed("s", "local", runtime={"containers": containers, "retained": retained})


def test_releases_are_listed_newest_first_with_counts():
    observed = _runtime({i: "r3" for i in range(3)}, {0: ["r1", "r2"], 1: ["r1", "r2"], 2: ["r2"]})
    listed = releases(observed, "web")
    assert [(r.release, r.active, r.kept) for r in listed] == [("r3", 3, 0), ("r2", 0, 3), ("r1", 0, 2)]
    assert listed[0].status == "active on 3 replica(s)" and listed[1].status == "kept"


def test_rollback_goes_to_the_newest_release_kept_everywhere():
    observed = _runtime({i: "r3" for i in range(3)}, {0: ["r1", "r2"], 1: ["r1", "r2"], 2: ["r2"]})
    targets = rollback_targets(observed, "web", None)
    assert {t.release for t in targets} == {"r2"} and len(targets) == 3
    assert targets[0].candidate == "s-web-0.r2-20001" and targets[0].port == 20001


def test_rollback_refuses_a_release_not_kept_on_every_replica():
    observed = _runtime({i: "r3" for i in range(3)}, {0: ["r1", "r2"], 1: ["r1", "r2"], 2: ["r2"]})
    with pytest.raises(IacorchError, match="not kept on service.web\\[2\\]"):
        rollback_targets(observed, "web", "r1")
    with pytest.raises(IacorchError, match="has no release nope"):
        rollback_targets(observed, "web", "nope")
