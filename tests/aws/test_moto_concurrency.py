"""The offline AWS takes concurrent calls as AWS does: the executor launches instances in
parallel, and moto's EC2 backend alone fails two RunInstances in one subnet at once
("generator already executing"); moto_fixtures.aws serializes moto's actions."""

from __future__ import annotations

import sys
import threading

import boto3
import pytest


@pytest.fixture
def eager_thread_switches():
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: the race shows at once
    yield
    sys.setswitchinterval(before)


@pytest.mark.usefixtures("mock_aws_env", "eager_thread_switches")
def test_parallel_run_instances_in_one_subnet_all_succeed_with_distinct_addresses():
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    errors, addresses = [], []

    def launch() -> None:
        client = boto3.session.Session().client("ec2")
        for _ in range(8):
            try:
                made = client.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet)
                addresses.append(made["Instances"][0]["PrivateIpAddress"])
            except Exception as exc:  # noqa: BLE001 - what moto raised is the finding
                errors.append(repr(exc))

    threads = [threading.Thread(target=launch) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(addresses) == len(set(addresses)) == 64
