"""Facts about a load balancer host, and haproxy -c's messages mapped to rendered lines; recorded output."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from iacorch.errors import HostError
from iacorch.haproxy.alerts import HaproxyConfigRejected, parse_check_output
from iacorch.haproxy.facts import facts_command, parse_facts
from iacorch.haproxy.render import RenderedConfig

FIXTURES = Path(__file__).parent / "fixtures" / "haproxy"
LIVE_DIGEST = "422c687fca97d803fcad3387203f7198a4793385443eb7c81d9e9133a9dce618"


def recorded(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_facts_of_a_host_running_haproxy():
    facts = parse_facts(recorded("facts_active.txt"))
    assert facts.installed and facts.active and facts.missing == ()
    assert facts.version == "2.6.12-1+deb12u4" and facts.config_digest == LIVE_DIGEST
    same = RenderedConfig(recorded("live.cfg"))  # the live file's bytes, as if rendered again
    assert same.digest == LIVE_DIGEST
    changes = facts.changes(same)
    assert changes.none and changes.reasons == ("haproxy 2.6.12-1+deb12u4 runs the current config (422c687fca97)",)
    other = facts.changes(RenderedConfig("global\n"))
    assert (other.install, other.deploy) == (False, True)
    assert other.reasons[0].startswith("replace haproxy.cfg (422c687fca97 -> ") and other.reasons[0].endswith("reload")


def test_facts_of_a_bare_host():
    facts = parse_facts(recorded("facts_absent.txt"))
    assert not facts.installed and not facts.active
    assert facts.version is None and facts.config_digest is None and facts.missing == ("haproxy", "socat")
    changes = facts.changes(RenderedConfig("global\n"))
    assert changes.install and changes.deploy
    assert changes.reasons == ("install haproxy socat (apt)", "write haproxy.cfg (none yet)")


def test_a_stopped_haproxy_with_the_current_config_is_started():
    text = recorded("facts_active.txt").replace("active=active", "active=failed")
    changes = parse_facts(text).changes(RenderedConfig(recorded("live.cfg")))
    assert (changes.install, changes.deploy) == (False, True) and "start haproxy" in changes.reasons[0]


def test_facts_command_runs_here_and_always_exits_zero(tmp_path):
    config = tmp_path / "haproxy.cfg"
    config.write_bytes(b"global\n")
    command = facts_command(str(config))
    assert command.argv[-3:] == (str(config), "haproxy", "socat")
    done = subprocess.run(["sh", "-c", command.render()], capture_output=True, text=True, check=False, timeout=30)
    assert done.returncode == 0
    facts = parse_facts(done.stdout)
    assert facts.config_digest == RenderedConfig("global\n").digest
    missing = subprocess.run(["sh", "-c", facts_command(str(tmp_path / "none")).render()], capture_output=True,
                             text=True, check=False, timeout=30)
    assert missing.returncode == 0 and missing.stderr == "" and parse_facts(missing.stdout).config_digest is None


def test_garbled_facts_are_an_error_naming_the_host():
    with pytest.raises(HostError, match="^lb1: unexpected output"):
        parse_facts("bash: dpkg-query: command not found\n", "lb1")


def test_a_parse_alert_points_at_the_rendered_line_and_its_section():
    config = RenderedConfig(recorded("check_rejected.cfg"))
    messages = parse_check_output(recorded("check_rejected.out"), config)
    assert [m.level for m in messages] == ["ALERT"] * 3  # NOTICE lines are left out
    first = messages[0]
    assert (first.line, first.section, first.line_text.strip()) == (28, "backend public.web", "option frobnicate")
    assert first.text == "parsing [line 28] : unknown option 'frobnicate'."
    assert not first.is_summary and messages[1].is_summary and messages[2].is_summary


def test_a_proxy_alert_points_at_the_proxy_section():
    config = RenderedConfig(recorded("check_unknown_backend.cfg"))
    (message, summary) = parse_check_output(recorded("check_unknown_backend.out"), config)
    assert message.text == "Proxy 'db': unable to find required default_backend: 'db.nope'."
    assert (message.line, message.line_text) == (20, "frontend db") and summary.is_summary


def test_the_rejection_shows_the_alerts_with_lines_and_names_the_host():
    config = RenderedConfig(recorded("check_rejected.cfg"))
    output = recorded("check_rejected.out")
    error = HaproxyConfigRejected("group.edge[0]", "/etc/haproxy/haproxy.cfg", parse_check_output(output, config),
                                  output)
    text = str(error)
    assert text.startswith("group.edge[0]: HAProxy rejected the new config (haproxy -c); /etc/haproxy/haproxy.cfg "
                           "was not changed and the running config keeps serving")
    assert "[ALERT] parsing [line 28] : unknown option 'frobnicate'." in text
    assert "line 28, in backend public.web: option frobnicate" in text
    assert "Fatal errors" not in text and "NOTICE" not in text
    assert isinstance(error, HostError) and error.where == "group.edge[0]"
