"""Record a golden planner case from real AWS behaviour (moto, in-process).

    python tests/planner/record.py CASE BEFORE.yaml DESIRED.yaml [--stop group.app[0]]

Applies BEFORE (if given, else nothing exists), observes, optionally stops an
instance, and writes CASE/desired.yaml, CASE/observed.json and
CASE/expected_plan.json. Read the expected plan before committing it: a golden
file is only as good as the review it got.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from golden_plans import TEST_KEY, write_case
from test_golden import model_for


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("case")
    ap.add_argument("before")
    ap.add_argument("desired")
    ap.add_argument("--stop", action="append", default=[])
    args = ap.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from moto import mock_aws

    from iacorch.engine import Engine
    from iacorch.report import RecordingReporter
    from iacorch.stack.load import load_stack
    from providers.aws import AwsProvider

    case = HERE / "cases" / args.case
    case.mkdir(parents=True, exist_ok=True)
    shutil.copy(args.desired, case / "desired.yaml")
    from moto_fixtures.aws import serialize_moto

    serialize_moto()
    with mock_aws():
        if args.before != "-":
            before = load_stack(args.before)
            provider = AwsProvider(before)
            provider.model = model_for(before.stack)
            provider.inputs.public_keys = {t: TEST_KEY for t in before.stack.launch_templates}
            engine = Engine(before, provider, RecordingReporter())
            obs = engine.observe()
            result = engine.apply(engine.plan(obs), obs)
            assert result.outcome.ok, result.outcome.failed
            for address in args.stop:
                ident = engine.observe().resources[address].id
                provider.session.client("ec2").stop_instances(InstanceIds=[ident])
            observed = engine.observe()
        else:
            desired = load_stack(str(case / "desired.yaml"))
            provider = AwsProvider(desired)
            observed = provider.observe()
    write_case(case, observed, model_for)


if __name__ == "__main__":
    main()
