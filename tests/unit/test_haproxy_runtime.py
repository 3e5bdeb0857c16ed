"""The runtime API as commands (socat with the command on stdin) and its waits, on recorded answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from iacorch.command import CommandResult
from iacorch.haproxy.runtime import (
    RuntimeApi,
    RuntimeApiError,
    runtime_command,
    set_state_command,
    split_answers,
)
from iacorch.ssh import HostAddress

FIXTURES = Path(__file__).parent / "fixtures" / "haproxy"
HOST = HostAddress("group.edge[0]", "127.0.0.1", 2222)


def recorded(name: str) -> str:
    return (FIXTURES / name).read_text()


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class RecordedHost:
    """Answers each runtime command in turn from a list of (stdin expected, stdout, exit status)."""

    def __init__(self, answers: list[tuple[str, str, int]]) -> None:
        self.answers, self.sent = list(answers), []

    def run(self, address, command, *, check=True, timeout=None):
        assert not check and command.argv[0] == "socat"
        stdin = command.stdin.decode()
        self.sent.append(stdin)
        expected, stdout, status = self.answers.pop(0)
        assert stdin == expected
        return CommandResult(address.name, command.masked(), status, stdout, "" if status == 0 else
                             "socat[9] E connect(5, AF=1 \"/run/haproxy/admin.sock\", 25): No such file or directory\n",
                             0.05)


def test_commands_go_on_stdin_never_on_the_command_line():
    command = runtime_command("show stat", "show servers state")
    assert command.argv == ("socat", "-t", "10", "stdio", "unix-connect:/run/haproxy/admin.sock")
    assert command.stdin == b"show stat; show servers state\n"
    assert set_state_command("public.web", "web-2", "drain").stdin == b"set server public.web/web-2 state drain\n"
    for bad in ("show stat; shutdown sessions", "show\nstat", ""):
        with pytest.raises(ValueError):
            runtime_command(bad)
    with pytest.raises(ValueError):
        set_state_command("public.web", "web-2;x", "drain")
    with pytest.raises(ValueError):
        set_state_command("public.web", "web-2", "off")


def test_answers_of_several_commands_split_on_empty_lines():
    stat, state = recorded("show_stat_states.csv"), recorded("show_servers_state.txt")
    answers = split_answers(stat.rstrip("\n") + "\n\n" + state, 2)
    assert answers[0].startswith("# pxname") and answers[0].count("\n") == stat.strip().count("\n")
    assert answers[1].startswith("1\n# be_id")
    assert split_answers("\n\n", 2) == ["", ""]


def test_wait_until_up_needs_a_passed_check_not_just_up():
    clock = FakeClock()
    host = RecordedHost([("show stat\n", recorded("show_stat_first_check_pending.csv"), 0),
                         ("show stat\n", recorded("show_stat_going_up.csv"), 0),
                         ("show stat\n", recorded("show_stat_states.csv"), 0)])
    api = RuntimeApi(host, HOST, clock=clock, sleep=clock.sleep, poll_interval=0.5)
    server = api.wait_until_up("public.web", "web-1", timeout=10)
    assert server.checked_up and clock.now == 100.0
    host.answers = [("show stat\n", recorded("show_stat_going_up.csv"), 0),
                    ("show stat\n", recorded("show_stat_states.csv"), 0)]
    assert api.wait_until_up("public.web", "web-1", timeout=10).status == "UP"
    assert clock.now == 100.5


def test_wait_until_up_gives_up_at_the_deadline_with_the_last_check():
    clock = FakeClock()
    host = RecordedHost([("show stat\n", recorded("show_stat_states.csv"), 0)] * 5)
    api = RuntimeApi(host, HOST, clock=clock, sleep=clock.sleep, poll_interval=0.5)
    with pytest.raises(RuntimeApiError) as failure:
        api.wait_until_up("public.web", "web-4", timeout=2)
    assert "not UP after 2s: DOWN, last check L4CON (Layer4 connection problem)" in str(failure.value)
    assert str(failure.value).startswith("group.edge[0]: ")
    assert len(host.sent) == 5  # t = 0, 0.5, 1, 1.5, 2
    pending = RecordedHost([("show stat\n", recorded("show_stat_first_check_pending.csv"), 0)] * 2)
    with pytest.raises(RuntimeApiError, match="UP 1/3, last check INI"):
        RuntimeApi(pending, HOST, clock=clock, sleep=clock.sleep).wait_until_up("public.web", "web-5", timeout=0.5)


def test_drain_sets_the_state_then_waits_for_sessions_to_end():
    busy = recorded("show_stat_states.csv").replace("public.web,web-2,0,0,0,", "public.web,web-2,0,0,2,")
    assert busy != recorded("show_stat_states.csv")
    clock = FakeClock()
    host = RecordedHost([("set server public.web/web-2 state drain\n", "\n", 0), ("show stat\n", busy, 0),
                         ("show stat\n", busy, 0), ("show stat\n", recorded("show_stat_states.csv"), 0)])
    outcome = RuntimeApi(host, HOST, clock=clock, sleep=clock.sleep, poll_interval=0.5).drain(
        "public.web", "web-2", timeout=10)
    assert outcome.drained and outcome.sessions_left == 0 and outcome.waited == 1.0


def test_drain_timeout_reports_the_sessions_left():
    busy = recorded("show_stat_states.csv").replace("public.web,web-2,0,0,0,", "public.web,web-2,0,0,3,")
    clock = FakeClock()
    host = RecordedHost([("show stat\n", busy, 0)] * 4)
    outcome = RuntimeApi(host, HOST, clock=clock, sleep=clock.sleep, poll_interval=0.5).wait_until_drained(
        "public.web", "web-2", timeout=1.2)
    assert not outcome.drained and outcome.sessions_left == 3 and outcome.waited == pytest.approx(1.2)


def test_refusals_name_the_host_and_the_reason():
    host = RecordedHost([("set server public.web/web-9 state ready\n", "No such server.\n\n", 0),
                         ("show stat\n", "", 1)])
    api = RuntimeApi(host, HOST)
    with pytest.raises(RuntimeApiError, match="refused 'set server public.web/web-9 state ready': No such server"):
        api.set_state("public.web", "web-9", "ready")
    with pytest.raises(RuntimeApiError) as failure:
        api.stats()
    assert "admin socket /run/haproxy/admin.sock did not answer" in str(failure.value)
    assert "No such file or directory" in str(failure.value) and failure.value.where == "group.edge[0]"
