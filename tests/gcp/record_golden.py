"""Record the golden GCP planner cases from the local GCE API, through the real provider.

    python tests/gcp/record_golden.py [CASE ...]      # default: every case in CASES

For each case: apply BEFORE (an edit of stacks/gcp-web.yaml; None: nothing
exists) on a fresh in-process server, stop the instances named, observe, and
write golden/CASE/desired.yaml, observed.json and expected_plan.json. Read
the expected plan before committing it: a golden file is only as good as the
review it got.
"""

from __future__ import annotations

import os
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from gcp_engine import PROJECT, REFERENCE
from golden_plans import TEST_KEY, write_case
from test_gcp_golden import CASES, model_for

Edits = list[tuple[str, str]]
# case: (edits of the reference for what exists before, or None; edits for the desired stack; instances stopped)
SCENARIOS: dict[str, tuple[Edits | None, Edits, list[str]]] = {
    "create-from-nothing": (None, [], []),
    "no-changes": ([], [], []),
    "rule-change": ([], [("ports: [8080], from_group: edge", "ports: [8080, 9000-9010], from_group: edge")], []),
    "template-change": ([], [("app_type: e2-small", "app_type: e2-medium")], []),
    "scale-up": ([], [("desired: 3", "desired: 5")], []),
    "scale-down": ([], [("desired: 3", "desired: 2")], []),
    "subnet-cidr-change": ([], [("10.20.2.0/24", "10.20.3.0/24")], []),
    "group-removed": ([], [("  edge: {template: node, subnets: [public-a], security_groups: [edge], size: 1}\n",
                            "")], []),
    "tags-change": ([], [("security_groups: [app], size", "security_groups: [app, edge], size")], []),
    "stopped-instance-started": ([], [], ["group.app[0]"]),
}


def edited(edits: Edits) -> str:
    text = REFERENCE
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return text


def record(case: str) -> None:
    from google.cloud import compute_v1

    from iacorch.engine import Engine
    from iacorch.report import RecordingReporter
    from iacorch.stack.load import load_stack
    from moto_fixtures.gce import GceServer
    from moto_fixtures.gce.clients import compute_client
    from providers.gcp.apply import TemplateInputs
    from providers.gcp.provider import GcpProvider

    before, desired_edits, stop = SCENARIOS[case]
    d = CASES / case
    d.mkdir(parents=True, exist_ok=True)
    (d / "desired.yaml").write_text(edited(desired_edits))
    with GceServer() as server:
        os.environ["IACORCH_GCP_ENDPOINT"] = server.url
        path = d / "before.yaml.tmp"
        path.write_text(edited(before or []))
        sf = load_stack(str(path))
        path.unlink()
        provider = GcpProvider(sf)
        provider.model = model_for(sf.stack)
        provider.inputs = TemplateInputs({t: TEST_KEY for t in sf.stack.launch_templates}, {})
        engine = Engine(sf, provider, RecordingReporter())
        if before is not None:
            observed = engine.observe()
            assert engine.apply(engine.plan(observed), observed).outcome.ok
        instances = compute_client(compute_v1.InstancesClient, server.url)
        for address in stop:
            _, _, _, zone, _, name = engine.observe().resources[address].id.split("/")
            operation = instances.stop_unary(project=PROJECT, zone=zone, instance=name)
            compute_client(compute_v1.ZoneOperationsClient, server.url).wait(
                project=PROJECT, zone=zone, operation=operation.name)
        observed = engine.observe()
    write_case(d, observed, model_for)


if __name__ == "__main__":
    for name in sys.argv[1:] or sorted(SCENARIOS):
        record(name)
