"""Runtime API parsers on output recorded from Debian's haproxy 2.6 in a testbed VM."""

from __future__ import annotations

from pathlib import Path

import pytest

from iacorch.haproxy.stats import normal_state, parse_servers_state, parse_show_stat

FIXTURES = Path(__file__).parent / "fixtures" / "haproxy"


def recorded(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_show_stat_servers_in_every_state():
    stats = parse_show_stat(recorded("show_stat_states.csv"))
    assert [frontend.name for frontend in stats.frontends] == ["public", "db"]
    assert stats.frontends[0].total_requests == 12 and stats.frontends[0].status == "OPEN"
    web = stats.backend("public.web")
    assert (web.status, web.algorithm, web.total_sessions, web.total_requests) == ("UP", "roundrobin", 12, 12)
    states = {server.name: (server.state, server.total_requests, server.check_status) for server in web.servers}
    assert states == {"web-1": ("UP", 3, "L7OK"), "web-2": ("DRAIN", 3, "L7OK"), "web-3": ("MAINT", 3, None),
                      "web-4": ("DOWN", 0, "L4CON"), "web-5": ("UP", 3, "INI")}
    down = stats.server("public.web", "web-4")
    assert down.check_description == "Layer4 connection problem" and down.address == "192.168.64.3:8099"
    assert not down.checked_up and stats.server("public.web", "web-1").checked_up
    assert stats.server("public.web", "nope") is None and stats.server("nope", "web-1") is None
    assert [backend.name for backend in stats.backends_of("public")] == ["public.web"]
    assert stats.backends_of("pub") == ()


def test_a_new_server_is_up_before_its_first_check_but_not_checked_up():
    server = parse_show_stat(recorded("show_stat_first_check_pending.csv")).server("public.web", "web-5")
    assert server.status == "UP 1/3" and server.state == "UP" and server.check_status == "INI"
    assert server.transition == "first check pending"
    assert not server.checked_up


def test_transitions_while_checks_count():
    going_down = parse_show_stat(recorded("show_stat_going_down.csv")).server("public.web", "web-1")
    assert (going_down.state, going_down.transition, going_down.check_status) == ("UP", "going down 1/3", "L4CON")
    assert not going_down.checked_up
    going_up = parse_show_stat(recorded("show_stat_going_up.csv")).server("public.web", "web-1")
    assert (going_up.state, going_up.transition, going_up.check_status) == ("DOWN", "going up 1/2", "L7OK")
    assert not going_up.checked_up


def test_unchecked_tcp_server():
    pg = parse_show_stat(recorded("show_stat_states.csv")).server("db.pg", "pg-1")
    assert pg.state == "no check" and pg.checked_up and pg.total_requests is None


@pytest.mark.parametrize("status, state", [("UP", "UP"), ("UP 2/3", "UP"), ("DOWN 1/2", "DOWN"),
                                           ("MAINT (via)", "MAINT"), ("MAINT(resolution)", "MAINT"),
                                           ("DRAIN (agent)", "DRAIN"), ("no check", "no check"), ("NOLB", "NOLB")])
def test_normal_state(status, state):
    assert normal_state(status) == state


def test_show_servers_state():
    states = {(state.backend, state.name): state for state in parse_servers_state(recorded("show_servers_state.txt"))}
    assert states["public.web", "web-1"].admin == "ready" and states["public.web", "web-1"].operational == "running"
    assert states["public.web", "web-2"].admin == "drain"
    assert states["public.web", "web-3"].admin == "maint" and states["public.web", "web-3"].operational == "stopped"
    assert states["public.web", "web-4"].operational == "stopped" and states["public.web", "web-4"].port == 8099
    assert states["db.pg", "pg-1"].address == "192.168.64.3"


def test_not_the_expected_output_is_refused():
    with pytest.raises(ValueError):
        parse_show_stat("Unknown command. Please enter one of the following commands only :\n")
    with pytest.raises(ValueError):
        parse_servers_state("")


def test_a_check_in_progress_keeps_the_last_result():
    from iacorch.haproxy.stats import parse_show_stat

    header = "# pxname,svname,scur,stot,status,check_status,check_desc,req_tot,addr,weight,lastchg\n"
    rows = ("b,BACKEND,0,0,UP,,,0,,2,1\n"
            "b,web-1a,0,0,UP,* L7OK,Layer7 check passed,0,10.0.0.1:20000,1,5\n")
    server = parse_show_stat(header + rows).server("b", "web-1a")
    assert server.check_status == "L7OK" and server.checked_up
