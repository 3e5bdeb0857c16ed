"""The control loop's pure decision step, and how its choices steer the plan: healing with
backoff, hosts taken out, horizontal/vertical/group autoscaling, and no drift for counts
the loop owns."""

from __future__ import annotations

from iacorch.hosts.model import HostInputs, HostModel
from iacorch.planner import Steering, plan
from iacorch.plan import Action
from iacorch.reconcile.decide import Memory, Settings, decide, recommend
from iacorch.reconcile.metrics import Metrics, Usage, parse_stats
from iacorch.resources import Observed, ObservedResource
from iacorch.stack.load import load_text
from providers.local.model import LocalModel

STACK = """stack: s
provider: {local: {}}
launch_templates: {vm: {ssh: {}}}
groups:
  app:
    template: vm
    size: GROUP
services:
  web:
    image: web:1
    group: app
    replicas: REPLICAS
    port: 8080
    EXTRA
"""
MiB = 1024 * 1024


def stack(replicas: int = 3, extra: str = "", group: str = "3"):
    text = STACK.replace("REPLICAS", str(replicas)).replace("EXTRA", extra).replace("GROUP", group)
    return load_text(text, "s.yaml", base_dir=".").stack


def observed(hosts: int = 3, containers: dict[str, dict] | None = None, states: dict[str, str] | None = None,
             unreachable: tuple[str, ...] = (), gone: tuple[str, ...] = ()) -> Observed:
    resources, facts, runtime = {}, {}, {}
    for i in range(hosts):
        host = f"group.app[{i}]"
        if host in gone:
            continue
        resources[host] = ObservedResource(host, "vm", f"vm{i}", {"state": (states or {}).get(host, "running")})
        facts[host] = ({"reachable": False, "error": "timed out"} if host in unreachable
                       else {"reachable": True, "docker": "26.1", "capacity": {"cpus": 2.0, "memory": 2048 * MiB}})
    for address, info in (containers or {}).items():
        info = {"name": f"s-web-{address[12:-1]}", "health": "healthy", "state": "running", "cpus": None,
                "memory": None, **info}
        runtime[address] = info
        resources[address] = ObservedResource(address, "container", "c" + address[12:-1],
                                              {"host": info["host"], "cpus": info["cpus"], "memory": info["memory"],
                                               "state": info["state"]})
    return Observed(stack="s", provider="local", resources=resources, hosts=facts, runtime={"containers": runtime})


def converged(s, hosts: int = 3, **steer) -> tuple[Observed, HostModel]:
    """What exists after an apply of ``s`` (with the loop's choices ``steer``): the plan's own attributes."""
    model = HostModel(HostInputs(images={"web": "web:1"}))
    facts = {f"group.app[{i}]": {"reachable": True, "docker": "26.1", "capacity": {"cpus": 2.0, "memory": 2048 * MiB}}
             for i in range(hosts)}
    empty = Observed(stack="s", provider="local", resources={}, hosts=facts)
    layer = model.steering(steer.get("replicas", {}), {}, steer.get("resources", {})) if steer else model
    made = plan(s, empty, LocalModel("img"), layers=[layer])
    resources = {c.address: ObservedResource(c.address, c.kind, "id-" + c.address, dict(c.after), deps=c.deps)
                 for c in made.actionable}
    runtime = {c.address: {"host": c.after["host"], "name": f"s-web-{c.address[12:-1]}", "state": "running",
                           "health": "healthy"} for c in made.actionable if c.kind == "container"}
    return Observed(stack="s", provider="local", resources=resources, hosts=facts,
                    runtime={"containers": runtime}), model


def replicas(n: int, hosts: int = 3, **overrides) -> dict[str, dict]:
    out = {f"service.web[{i}]": {"host": f"group.app[{i % hosts}]"} for i in range(n)}
    for address, info in overrides.items():
        out[address.replace("_", ".").replace("[", "[")] = {**out[address], **info}
    return out


def test_an_exited_replica_is_restarted_with_backoff_then_recreated():
    s, memory, settings = stack(), Memory(), Settings(restart_backoff=2, max_restarts=3)
    down = replicas(3)
    down["service.web[1]"] = {**down["service.web[1]"], "state": "exited"}
    seen = observed(containers=down)
    times = []
    for now in [0, 1, 2.5, 3, 6.5, 7, 20]:
        d, memory = decide(now, s, seen, None, memory, settings)
        if d.restart:
            times.append(now)
            assert d.restart == {"service.web[1]": "exited"}
        if d.recreate:
            assert d.recreate == {"service.web[1]": None}  # its host is fine: recreated there
            assert d.steering().replace == {"service.web[1]"}
            assert any(e.action == "recreate" for e in d.events)
            break
    assert times == [0, 2.5, 6.5]  # backoff 2 s, then 4 s; the fourth failure recreates


def test_a_healthy_replica_resets_its_backoff():
    s, memory = stack(), Memory()
    down = replicas(3)
    down["service.web[0]"] = {**down["service.web[0]"], "state": "exited"}
    _, memory = decide(0, s, observed(containers=down), None, memory)
    assert "service.web[0]" in memory.not_before
    _, memory = decide(1, s, observed(containers=replicas(3)), None, memory)
    assert "service.web[0]" not in memory.not_before


def test_an_unhealthy_replica_on_a_sick_host_is_recreated_elsewhere():
    s, memory = stack(6), Memory()
    bad = replicas(6)
    for a in ("service.web[0]", "service.web[3]"):  # both on group.app[0]
        bad[a] = {**bad[a], "health": "unhealthy", "health_output": "HTTP 500"}
    for now in range(0, 200, 5):
        d, memory = decide(now, s, observed(containers=bad), None, memory, Settings(restart_backoff=1))
        if d.recreate:
            break
    assert d.recreate == {"service.web[0]": "group.app[0]", "service.web[3]": "group.app[0]"}
    assert d.avoid == {"service.web[0]": "group.app[0]", "service.web[3]": "group.app[0]"}


def test_a_stopped_gone_or_unreachable_host_is_taken_out_at_once_and_replaced_later():
    s, memory = stack(), Memory()
    seen = observed(containers=replicas(3), states={"group.app[1]": "stopped"}, unreachable=("group.app[2]",),
                    gone=("group.app[0]",))
    d, memory = decide(100, s, seen, None, memory, Settings(replace_after=30))
    assert d.maint == {"group.app[0]", "group.app[1]", "group.app[2]"}
    assert not d.replace_hosts
    assert {e.subject: e.action for e in d.events} == {"group.app[0]": "take out", "group.app[1]": "take out",
                                                        "group.app[2]": "take out"}
    d, memory = decide(110, s, seen, None, memory, Settings(replace_after=30))
    assert not d.events  # said once, not every pass
    d, memory = decide(131, s, seen, None, memory, Settings(replace_after=30))
    assert set(d.replace_hosts) == {"group.app[2]"}
    assert d.steering().replace == {"group.app[2]"}
    d, memory = decide(140, s, observed(containers=replicas(3)), None, memory)
    assert {e.subject for e in d.events if e.action == "healed"} == {"group.app[0]", "group.app[1]", "group.app[2]"}
    assert not d.maint


AUTO = "autoscale: {min: 2, max: 6, requests_per_replica: 10, scale_down_window: 30s, cooldown: 10s}"


def test_request_rate_scales_up_at_once_and_down_after_the_window():
    s, memory = stack(2, AUTO), Memory()
    seen = observed(containers=replicas(2))
    d, memory = decide(0, s, seen, Metrics(requests={"web": 0}, time=0), memory)
    assert not d.replicas  # the first sample only starts the rate
    d, memory = decide(5, s, seen, Metrics(requests={"web": 400}, time=5), memory)  # 80/s over 2 = 40 each
    assert d.replicas == {"web": 6}  # ceil(2 * 40 / 10) = 8, capped at max 6
    assert any(e.action == "scale up" for e in d.events)
    seen = observed(containers=replicas(6))
    total, now, down_at = 400, 5, None
    for now in range(10, 80, 5):
        d, memory = decide(now, s, seen, Metrics(requests={"web": total}, time=now), memory)
        if d.replicas:
            down_at = now
            break
    assert down_at is not None and down_at >= 35  # idle: only after the 30 s window since the last high
    assert d.replicas == {"web": 2}


def test_replicas_hidden_by_a_stopped_host_are_healing_not_a_scale_up():
    s, memory = stack(2, AUTO), Memory()
    seen = observed(hosts=2, containers=replicas(2, hosts=2))
    _, memory = decide(0, s, seen, Metrics(requests={"web": 0}, time=0), memory)
    # group.app[1] stops: its replica is not seen; the load is low
    seen = observed(hosts=2, containers={"service.web[0]": {"host": "group.app[0]"}},
                    states={"group.app[1]": "stopped"})
    d, memory = decide(5, s, seen, Metrics(requests={"web": 50}, time=5), memory)  # 10/s on the one left
    assert not d.replicas and not [e for e in d.events if e.action.startswith("scale")], d.events
    assert [e.action for e in d.events if e.subject == "group.app[1]"] == ["take out"]
    # a real burst still scales, from the count the stack holds
    d, memory = decide(10, s, seen, Metrics(requests={"web": 350}, time=10), memory)  # 60/s
    assert d.replicas == {"web": 6}


def test_within_tolerance_nothing_changes():
    s, memory = stack(3, AUTO), Memory()
    seen = observed(containers=replicas(3))
    _, memory = decide(0, s, seen, Metrics(requests={"web": 0}, time=0), memory)
    d, memory = decide(10, s, seen, Metrics(requests={"web": 315}, time=10), memory)  # 10.5/s each: +5%
    assert not d.replicas


def test_cpu_target_uses_the_share_of_the_limit():
    s = stack(2, "autoscale: {min: 1, max: 4, cpu_target: 50}\n    resources: {cpus: 0.5}")
    seen = observed(containers=replicas(2))
    usage = {"s-web-0": Usage(45.0, 10 * MiB, 0), "s-web-1": Usage(45.0, 10 * MiB, 0)}  # 90% of 0.5 cpus
    d, _ = decide(0, s, seen, Metrics(usage=usage, time=0), Memory())
    assert d.replicas == {"web": 4}  # ceil(2 * 90 / 50)


def test_autoscaled_counts_are_not_drift_and_the_loop_choice_steers_the_plan():
    s = stack(2, AUTO)
    seen, model = converged(s, replicas={"web": 4})
    p = plan(s, seen, LocalModel("img"), layers=[model])
    assert not p.has_changes
    assert "service.web: autoscaled: 4 (2..6)" in p.notes
    steered = plan(s, seen, LocalModel("img"), layers=[model.steering({"web": 5}, {}, {})])
    assert [(c.address, c.action) for c in steered.actionable if c.kind == "container"] == [
        ("service.web[4]", Action.CREATE)]
    fewer = plan(s, seen, LocalModel("img"), layers=[model.steering({"web": 2}, {}, {})])
    assert sorted(c.address for c in fewer.actionable if c.action is Action.DELETE and c.kind == "container") == [
        "service.web[2]", "service.web[3]"]
    one, _ = converged(s, replicas={"web": 4})
    one = Observed(stack="s", provider="local", hosts=one.hosts, runtime=one.runtime,
                   resources={a: r for a, r in one.resources.items() if a not in (
                       "service.web[1]", "service.web[2]", "service.web[3]")})
    below = plan(s, one, LocalModel("img"), layers=[model])
    assert [c.address for c in below.actionable if c.action is Action.CREATE and c.kind == "container"] == [
        "service.web[1]"]  # under min: back to min


def test_a_replica_to_avoid_moves_to_another_host():
    s = stack(3)
    seen, model = converged(s)
    assert seen.resources["service.web[1]"].attrs["host"] == "group.app[1]"
    p = plan(s, seen, LocalModel("img"), layers=[model.steering({}, {"service.web[1]": "group.app[1]"}, {})])
    moved = [c for c in p.actionable if c.kind == "container"]
    assert [c.address for c in moved] == ["service.web[1]"]
    assert moved[0].action is Action.REPLACE and moved[0].after["host"] != "group.app[1]"


def test_vertical_limits_within_bounds_are_not_drift_and_resize_in_place():
    extra = "resources: {auto: true, min: {cpus: 0.1, memory: 32m}, max: {cpus: 1, memory: 256m}}"
    s = stack(2, extra)
    seen, model = converged(s, resources={"web": {"cpus": 0.3, "memory": 64 * MiB}})
    assert seen.resources["service.web[0]"].attrs["cpus"] == 0.3
    p = plan(s, seen, LocalModel("img"), layers=[model])
    assert not p.has_changes
    assert any(n.startswith("service.web: autoscaled limits: cpus 0.3") for n in p.notes)
    usage = {"s-web-0": Usage(2.0, 20 * MiB, 0), "s-web-1": Usage(1.0, 10 * MiB, 0)}
    d, _ = decide(0, s, seen, Metrics(usage=usage, time=0), Memory())
    assert d.resources == {"web": {"cpus": 0.1, "memory": 32 * MiB}}  # floors at min
    resized = plan(s, seen, LocalModel("img"), layers=[model.steering({}, {}, d.resources)])
    changes = [c for c in resized.actionable if c.kind == "container"]
    assert len(changes) == 2 and {c.action for c in changes} == {Action.UPDATE}
    assert {f.name for c in changes for f in c.fields} == {"cpus", "memory"}


def test_recommend_keeps_headroom_within_bounds():
    extra = "resources: {auto: true, min: {cpus: 0.1, memory: 32m}, max: {cpus: 1, memory: 256m}}"
    res = stack(1, extra).services["web"].resources
    assert recommend(res, 0.5, 100 * MiB) == {"cpus": 0.65, "memory": 132 * MiB}
    assert recommend(res, 3.0, 900 * MiB) == {"cpus": 1.0, "memory": 256 * MiB}


def test_group_autoscaling_adds_instances_when_replicas_do_not_fit_and_removes_idle_ones():
    group = "{min: 1, max: 4, desired: 2}\n    autoscale: {scale_in_idle: 60s}"
    s = stack(6, "resources: {cpus: 1.5}", group=group)
    seen = observed(hosts=2, containers=replicas(2, hosts=2))
    d, memory = decide(0, s, seen, None, Memory())
    assert d.groups == {"app": [0, 1, 2, 3]}  # 2 cpus per host, 1.5 per replica: one each; 4 more, max 4
    p = plan(s, seen, LocalModel("img"), layers=[], steering=Steering(groups=d.groups))
    assert "group.app: autoscaled: 4 (1..4)" in p.notes
    assert sorted(c.address for c in p.actionable if c.action is Action.CREATE and c.kind == "vm") == [
        "group.app[2]", "group.app[3]"]
    s = stack(1, "resources: {cpus: 1.5}", group=group)
    seen = observed(hosts=3, containers=replicas(1, hosts=3))
    d, memory = decide(0, s, seen, None, Memory())
    assert not d.groups
    d, memory = decide(61, s, seen, None, memory)
    assert d.groups == {"app": [0]}  # the idle ones go, down to min


def test_a_forced_replacement_shows_its_reason():
    s = stack(3)
    seen, model = converged(s)
    assert not plan(s, seen, LocalModel("img"), layers=[model]).has_changes
    p = plan(s, seen, LocalModel("img"), layers=[model],
             steering=Steering(replace=frozenset({"group.app[2]"}), reasons={"group.app[2]": "unreachable for 31s"}))
    change = next(c for c in p.actionable if c.address == "group.app[2]")
    assert change.action is Action.REPLACE and change.reason == "unreachable for 31s"


def test_parse_docker_stats():
    text = ('{"CPUPerc":"12.50%","MemUsage":"20.5MiB / 256MiB","Name":"s-web-0"}\n'
            '{"CPUPerc":"0.00%","MemUsage":"1.2GiB / 2GiB","Name":"s-web-1"}\n')
    usage = parse_stats(text)
    assert usage["s-web-0"] == Usage(12.5, int(20.5 * MiB), 256 * MiB)
    assert usage["s-web-1"].memory == int(1.2 * 1024 * MiB)


def test_a_failed_pass_is_an_event_and_watching_goes_on(tmp_path):
    import pytest

    from iacorch.errors import IacorchError
    from iacorch.reconcile.events import EventLog
    from iacorch.reconcile.loop import Reconciler

    class Busy:  # an engine whose stack is locked by someone's apply
        stack = stack()
        calls = 0

        def observe(self):
            Busy.calls += 1
            raise IacorchError("stack 's' is locked by apply")

    seen = []
    loop = Reconciler(Busy(), events=EventLog("s", str(tmp_path / "events.jsonl")))
    loop.watch(0.01, on_pass=lambda r: (seen.extend(r.events), Busy.calls >= 3 and loop.stop()))
    assert Busy.calls == 3 and [e.result for e in seen] == ["failed"] * 3
    assert "locked by apply" in loop.log.read()[0].reason
    with pytest.raises(IacorchError):
        Reconciler(Busy(), events=EventLog("s", str(tmp_path / "other.jsonl"))).watch(0.01, passes=1)
