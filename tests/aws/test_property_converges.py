"""Property: whatever exists before (another random stack of the same name), after apply the plan is empty."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iacorch.engine import Engine
from iacorch.report import RecordingReporter
from iacorch.stack.load import load_text

NAMES = ["alpha", "beta", "gamma"]


@st.composite
def stacks(draw):
    n_subnets = draw(st.integers(1, 3))
    third = draw(st.permutations(range(1, 9)))
    subnets = {f"net-{i}": {"cidr": f"10.40.{third[i]}.0/24", "zone": f"us-east-1{'abc'[i]}",
                            "public": draw(st.booleans())} for i in range(n_subnets)}
    sg_names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True))
    sgs = {}
    for name in sg_names:
        rules = []
        for _ in range(draw(st.integers(0, 3))):
            ports = draw(st.lists(st.sampled_from([22, 80, 443, 8080, "9000-9010"]), min_size=1, max_size=2,
                                  unique=True))
            if draw(st.booleans()):
                rules.append({"ports": ports, "from": draw(st.sampled_from(["0.0.0.0/0", "10.0.0.0/8"]))})
            else:
                rules.append({"ports": ports, "from_group": draw(st.sampled_from(sg_names))})
        sgs[name] = {"description": draw(st.sampled_from(["one", "two"])), "ingress": rules}
    templates = {"node": {"image": "ami-12345678",
                          "instance_type": draw(st.sampled_from(["t3.micro", "t3.small"])), "ssh": {}}}
    groups = {}
    for g in draw(st.lists(st.sampled_from(["web", "worker"]), min_size=0, max_size=2, unique=True)):
        size = draw(st.integers(0, 3))
        groups[g] = {"template": "node", "size": size,
                     "subnets": draw(st.lists(st.sampled_from(sorted(subnets)), min_size=1, unique=True)),
                     "security_groups": draw(st.lists(st.sampled_from(sg_names), max_size=2, unique=True))}
    doc = {"stack": "prop", "provider": {"aws": {"region": "us-east-1"}},
           "network": {"vpc": {"cidr": "10.40.0.0/16"}, "subnets": subnets},
           "security_groups": sgs, "launch_templates": templates, "groups": groups}
    return yaml.safe_dump(doc, sort_keys=False)


def _engine(text: str) -> Engine:
    from providers.aws import AwsProvider

    sf = load_text(text, "prop.yaml", base_dir=".")
    return Engine(sf, AwsProvider(sf), RecordingReporter())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=stacks(), after=stacks())
def test_after_apply_the_plan_is_empty(mock_aws_env, before, after):
    for text in (before, after):
        engine = _engine(text)
        observed = engine.observe()
        result = engine.apply(engine.plan(observed), observed)
        assert result.outcome.ok, (text, result.outcome.failed, result.outcome.skipped)
    engine = _engine(after)
    leftover = engine.plan(engine.observe())
    assert not leftover.has_changes, [(c.address, c.action, c.reason) for c in leftover.actionable]
    # and destroy leaves nothing owned behind
    observed = engine.observe()
    assert engine.apply(engine.plan(observed, destroy=True), observed).outcome.ok
    assert engine.observe().resources == {}
