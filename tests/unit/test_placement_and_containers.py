"""Placement (stable, spread, within capacity) and containers as docker arguments."""

from __future__ import annotations

import collections

from iacorch.hosts.containers import ContainerSpec, spec_from_attrs
from iacorch.hosts.model import container_resource
from iacorch.hosts.placement import HostRoom, place, place_global
from iacorch.stack.services import Service


def rooms(n, cpus=None, memory=None):
    return [HostRoom(f"group.app[{i}]", cpus, memory) for i in range(n)]


def test_spread_evenly_from_nothing():
    p = place("web", range(6), rooms(3), {}, None, None)
    assert sorted(collections.Counter(p.replicas.values()).values()) == [2, 2, 2]
    assert p.unplaced == ()


def test_existing_replicas_stay_where_they_run():
    current = {0: "group.app[2]", 1: "group.app[2]", 2: "group.app[0]"}
    p = place("web", range(6), rooms(3), current, None, None)
    assert {r: p.replicas[r] for r in current} == current
    assert sorted(collections.Counter(p.replicas.values()).values()) == [2, 2, 2]


def test_scaling_up_adds_to_the_emptiest_hosts_without_moving_others():
    first = place("web", range(3), rooms(3), {}, None, None).replicas
    second = place("web", range(5), rooms(3), first, None, None).replicas
    assert {r: second[r] for r in first} == first


def test_a_removed_host_moves_only_its_replicas():
    first = place("web", range(6), rooms(3), {}, None, None).replicas
    second = place("web", range(6), rooms(2), first, None, None).replicas
    moved = {r for r in first if first[r] != second[r]}
    assert moved == {r for r, h in first.items() if h == "group.app[2]"}


def test_capacity_is_respected_and_what_does_not_fit_is_reported():
    p = place("web", range(5), rooms(2, cpus=1.0), {}, 0.5, None)
    assert sorted(collections.Counter(p.replicas.values()).values()) == [2, 2]
    assert p.unplaced == (4,)
    m = place("web", range(3), rooms(1, memory=300), {}, None, 128)
    assert len(m.replicas) == 2 and m.unplaced == (2,)


def test_global_mode_one_per_host_by_index():
    p = place_global("agent", rooms(3), None, None, lambda a: int(a.split("[")[1].rstrip("]")))
    assert p.replicas == {0: "group.app[0]", 1: "group.app[1]", 2: "group.app[2]"}


def svc(**kw):
    base = {"image": "web:1", "group": "app", "port": 8080, "env": {"MODE": "prod"},
            "health": {"http": "/healthz", "interval": "2s"}}
    return Service.model_validate({**base, **kw})


def test_run_arguments():
    spec = ContainerSpec.of("shop", "web", svc(resources={"cpus": 0.5, "memory": "256M"},
                                              volumes=["data:/var/lib/x"], secrets={"DB": "env:DB"}), 3, "web:1")
    args = spec.run_args("shop-web-3.abc", env_file_path="/run/iacorch/secrets/x.env")
    assert args[:4] == ["run", "--detach", "--init", "--name"]
    assert "--env" in args and "MODE=prod" in args and "IACORCH_REPLICA=3" in args
    assert ["--env-file", "/run/iacorch/secrets/x.env"] == args[args.index("--env-file"):args.index("--env-file") + 2]
    assert ["--publish", "8080"] == args[args.index("--publish"):args.index("--publish") + 2]
    assert ["--cpus", "0.5"] == args[args.index("--cpus"):args.index("--cpus") + 2]
    assert str(256 * 1024 * 1024) in args and "data:/var/lib/x" in args
    assert "iacorch.replica=3" in args and "iacorch.service=web" in args and f"iacorch.release={spec.release}" in args
    assert "/healthz" in args[args.index("--health-cmd") + 1]
    assert args[args.index("--health-interval") + 1] == "2s"
    assert args[-1] == "web:1"
    assert not any("DB=" in a for a in args)  # secrets only by reference, through the env file


def test_release_changes_with_what_defines_it_not_with_limits():
    a = ContainerSpec.of("s", "web", svc(), 0, "web:1")
    assert ContainerSpec.of("s", "web", svc(env={"MODE": "dev"}), 0, "web:1").release != a.release
    assert ContainerSpec.of("s", "web", svc(), 0, "web:2").release != a.release
    assert ContainerSpec.of("s", "web", svc(resources={"cpus": 2}), 0, "web:1").release == a.release
    assert ContainerSpec.of("s", "web", svc(), 1, "web:1").release == a.release  # same release on every replica


def test_a_plan_rebuilds_the_same_spec():
    spec = ContainerSpec.of("s", "web", svc(command="serve --fast", ports=["80:8080"]), 2, "web:1")
    res = container_resource(spec, "group.app[0]")
    again = spec_from_attrs("s", res.address, dict(res.attrs))
    assert again.run_args("x") == spec.run_args("x")
    assert res.create_before_destroy is False  # a fixed host port: the old release must stop first


def _observed_with(*containers):
    from iacorch.resources import Observed, ObservedResource

    return Observed("s", "local", {addr: ObservedResource(addr, "container", addr, attrs) for addr, attrs in containers})


def test_slot_ports_new_replicas_take_the_lowest_free_pair_on_their_host():
    from iacorch.hosts.model import SlotPorts

    ports = SlotPorts(_observed_with(("service.web[0]", {"host": "h1", "release": "r1", "host_port": 20000})))
    new = ContainerSpec.of("s", "web", svc(), 3, "web:1")
    assert ports.port_for(new, "h1") == 20002  # pair 0 is taken on h1
    assert ports.port_for(ContainerSpec.of("s", "web", svc(), 4, "web:1"), "h1") == 20004
    assert ports.port_for(ContainerSpec.of("s", "web", svc(), 5, "web:1"), "h2") == 20000


def test_slot_ports_a_new_release_takes_the_other_slot_and_an_unchanged_one_keeps_its_port():
    from iacorch.hosts.model import SlotPorts

    same = ContainerSpec.of("s", "web", svc(), 0, "web:1")
    ports = SlotPorts(_observed_with(("service.web[0]", {"host": "h1", "release": same.release, "host_port": 20003})))
    assert ports.port_for(same, "h1") == 20003
    changed = ContainerSpec.of("s", "web", svc(env={"MODE": "dev"}), 0, "web:1")
    assert ports.port_for(changed, "h1") == 20002
    # an interrupted rollout left the new release running on its slot: it keeps it
    ports = SlotPorts(_observed_with(
        ("service.web[0]", {"host": "h1", "release": same.release, "host_port": 20003}),
        (f"service.web[0]~{changed.release}", {"host": "h1", "release": changed.release, "host_port": 20002})))
    assert ports.port_for(changed, "h1") == 20002


def test_published_ports_use_the_slot_and_a_separate_check_port():
    spec = ContainerSpec.of("s", "web", svc(health={"http": "/healthz", "port": 9000}), 0, "web:1", host_port=20005)
    args = spec.run_args("x")
    published = [args[i + 1] for i, a in enumerate(args) if a == "--publish"]
    assert published == ["20005:8080", "30005:9000"]
