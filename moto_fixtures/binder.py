"""Real hosts behind a simulated cloud's instances.

moto's EC2 instances and the local GCE API's instances are records, not
machines. A binder watches such an API and gives each running instance of a
stack a testbed VM (a container with systemd and sshd), writing the binding
(where its SSH answers, and its host key) to a JSON file that the providers
read through ``IACORCH_HOST_BINDINGS`` (see ``providers.hosts``). An instance
that stops gets its VM stopped; one that is terminated (or, on GCE, deleted)
gets its VM removed; a new instance gets a fresh VM. So apply, drift, healing
and destroy run for real against hosts, with only the cloud's API simulated.

``HostBinder`` is the loop; each cloud says how to list its instances:
``MotoHostBinder`` (EC2 on a moto server) and ``GceHostBinder``
(``moto_fixtures.gce_binder``).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Self

from moto_fixtures.testbed import TestVm, VmTestbed

RUNNING, STOPPED, GONE = "running", "stopped", "gone"


class HostBinder:
    """Subclasses implement ``list_instances`` (cloud id -> the cloud's state), ``classify`` (that state as
    RUNNING, STOPPED or GONE) and ``vm_suffix`` (a short, unique container suffix for an instance)."""

    name = "host-binder"
    vanished_is_gone = False  # True where a deleted instance leaves the listing (GCE) instead of lingering

    def __init__(self, testbed: VmTestbed, bindings: Path, authorized_keys: str, *, poll: float = 0.3) -> None:
        self.testbed, self.bindings, self.authorized_keys = testbed, Path(bindings), authorized_keys
        self.poll = poll
        self.vms: dict[str, TestVm] = {}  # instance id -> its VM
        self.states: dict[str, str] = {}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._write()

    def list_instances(self) -> dict[str, str]:
        raise NotImplementedError

    def classify(self, state: str) -> str:
        raise NotImplementedError

    def vm_suffix(self, ident: str) -> str:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
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
            except Exception as exc:  # noqa: BLE001  keep watching; tests read .errors
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self._stop.wait(self.poll)

    def _sync(self) -> None:
        seen = self.list_instances()
        changed = False
        for ident, state in seen.items():
            kind = self.classify(state)
            if kind == RUNNING and ident not in self.vms:
                self.vms[ident] = self.testbed.create_vm(self.vm_suffix(ident), authorized_keys=self.authorized_keys)
                changed = True
            elif kind == RUNNING and self.states.get(ident) == STOPPED:
                self.testbed.machines.start(self.vms[ident].name)
                self.vms[ident] = self.testbed.refresh(self.vms[ident])
                changed = True
            elif kind == STOPPED and ident in self.vms and self.states.get(ident) != STOPPED:
                self.testbed.machines.stop(self.vms[ident].name)
                changed = True
            elif kind == GONE and ident in self.vms:
                self.testbed.destroy_vm(self.vms.pop(ident))
                changed = True
            self.states[ident] = STOPPED if kind == STOPPED else state
        if self.vanished_is_gone:
            for ident in [i for i in self.vms if i not in seen]:
                self.testbed.destroy_vm(self.vms.pop(ident))
                self.states.pop(ident, None)
                changed = True
        if changed:
            self._write()

    def _write(self) -> None:
        data = {"instances": {
            ident: {"host": "127.0.0.1", "port": vm.address.port, "user": "root", "host_key": vm.host_key.public,
                    "vm": vm.name, "ip": vm.ip, "state": "running" if self.states.get(ident) != STOPPED else "stopped"}
            for ident, vm in self.vms.items()}}
        tmp = self.bindings.with_name(self.bindings.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, self.bindings)


_EC2_STATES = {"pending": RUNNING, "running": RUNNING, "stopping": STOPPED, "stopped": STOPPED,
               "shutting-down": GONE, "terminated": GONE}


class MotoHostBinder(HostBinder):
    """EC2 instances of a moto server (those tagged ``iacorch:stack``), keyed by instance id."""

    name = "moto-binder"

    def __init__(self, testbed: VmTestbed, endpoint_url: str, bindings: Path, authorized_keys: str, *,
                 region: str = "us-east-1", poll: float = 0.3) -> None:
        import boto3

        self.ec2 = boto3.client("ec2", endpoint_url=endpoint_url, region_name=region,
                                aws_access_key_id="testing", aws_secret_access_key="testing")
        super().__init__(testbed, bindings, authorized_keys, poll=poll)

    def list_instances(self) -> dict[str, str]:
        seen: dict[str, str] = {}
        for page in self.ec2.get_paginator("describe_instances").paginate(
                Filters=[{"Name": "tag-key", "Values": ["iacorch:stack"]}]):
            for reservation in page["Reservations"]:
                for instance in reservation["Instances"]:
                    seen[instance["InstanceId"]] = instance["State"]["Name"]
        return seen

    def classify(self, state: str) -> str:
        return _EC2_STATES.get(state, "")

    def vm_suffix(self, ident: str) -> str:
        return f"i{ident[-8:]}"


def wait_until(predicate, timeout: float = 60.0, poll: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll)
    return predicate()
