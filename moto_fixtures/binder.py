"""Real hosts behind moto's instances.

moto's EC2 instances are records, not machines. The binder watches a moto
server and gives each running instance of a stack a testbed VM (a container
with systemd and sshd), writing the binding (where its SSH answers, and its
host key) to a JSON file that the AWS provider reads through
``IACORCH_HOST_BINDINGS``. An instance that stops gets its VM stopped; one that
is terminated gets its VM removed; a new instance gets a fresh VM. So apply,
drift, healing and destroy run for real against hosts, with only the EC2 API
simulated.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import boto3

from moto_fixtures.testbed import TestVm, VmTestbed


class MotoHostBinder:
    def __init__(self, testbed: VmTestbed, endpoint_url: str, bindings: Path, authorized_keys: str, *,
                 region: str = "us-east-1", poll: float = 0.3) -> None:
        self.testbed, self.bindings, self.authorized_keys = testbed, Path(bindings), authorized_keys
        self.ec2 = boto3.client("ec2", endpoint_url=endpoint_url, region_name=region,
                                aws_access_key_id="testing", aws_secret_access_key="testing")
        self.poll = poll
        self.vms: dict[str, TestVm] = {}  # instance id -> its VM
        self.states: dict[str, str] = {}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._write()

    def __enter__(self) -> "MotoHostBinder":
        self._thread = threading.Thread(target=self._loop, name="moto-binder", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)
        for vm in list(self.vms.values()):
            self.testbed.destroy_vm(vm)
        self.vms.clear()
        self._write()

    def vm_of(self, instance_id: str) -> TestVm:
        return self.vms[instance_id]

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._sync()
            except Exception as exc:  # keep watching; tests read .errors
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self._stop.wait(self.poll)

    def _sync(self) -> None:
        seen: dict[str, str] = {}
        for page in self.ec2.get_paginator("describe_instances").paginate(
                Filters=[{"Name": "tag-key", "Values": ["iacorch:stack"]}]):
            for reservation in page["Reservations"]:
                for instance in reservation["Instances"]:
                    seen[instance["InstanceId"]] = instance["State"]["Name"]
        changed = False
        for ident, state in seen.items():
            if state in ("pending", "running") and ident not in self.vms:
                self.vms[ident] = self.testbed.create_vm(f"i{ident[-8:]}", authorized_keys=self.authorized_keys)
                changed = True
            elif state in ("pending", "running") and self.states.get(ident) == "stopped":
                self.testbed.machines.start(self.vms[ident].name)
                self.vms[ident] = self.testbed.refresh(self.vms[ident])
                changed = True
            elif state in ("stopping", "stopped") and ident in self.vms and self.states.get(ident) != "stopped":
                self.testbed.machines.stop(self.vms[ident].name)
                state = "stopped"
                changed = True
            elif state in ("shutting-down", "terminated") and ident in self.vms:
                self.testbed.destroy_vm(self.vms.pop(ident))
                changed = True
            self.states[ident] = "stopped" if state in ("stopping", "stopped") else state
        if changed:
            self._write()

    def _write(self) -> None:
        data = {"instances": {
            ident: {"host": "127.0.0.1", "port": vm.address.port, "user": "root", "host_key": vm.host_key.public,
                    "vm": vm.name, "ip": vm.ip, "state": "running" if self.states.get(ident) != "stopped" else "stopped"}
            for ident, vm in self.vms.items()}}
        tmp = self.bindings.with_name(self.bindings.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, self.bindings)


def wait_until(predicate, timeout: float = 60.0, poll: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll)
    return predicate()
