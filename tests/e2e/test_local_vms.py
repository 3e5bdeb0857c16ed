"""VMs as local containers: observation, limits, Docker inside, and destroy that leaves nothing."""

from __future__ import annotations

import ipaddress
import json
import os
import random
import shutil
import stat
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from iacorch.command import Command, Script
from iacorch.errors import ProviderError
from moto_fixtures.testbed import LABEL_TESTBED, reap_orphans
from providers.local import base_image
from providers.local.cgroups import leaked_cgroup_dirs
from providers.local.docker_cli import DockerCli
from iacorch.keys import load_or_create_client_key

pytestmark = pytest.mark.e2e


def nothing_left(vm_testbed, name: str) -> None:
    docker = vm_testbed.machines.docker
    assert vm_testbed.machines.inspect(name) is None
    assert name not in docker.text(["ps", "-a", "--format", "{{.Names}}"]).split()
    assert f"{name}-docker" not in docker.text(["volume", "ls", "--quiet"]).split()


def free_subnet(docker: DockerCli) -> str:
    """A /24 that no network on this engine overlaps (Docker's own pools take whole /16s of 172.17-31)."""
    ids = docker.text(["network", "ls", "--quiet"]).split()
    taken = [ipaddress.ip_network(config["Subnet"])
             for network in json.loads(docker.text(["network", "inspect", *ids]))
             for config in (network.get("IPAM") or {}).get("Config") or [] if config.get("Subnet")]
    candidates = [ipaddress.ip_network(f"10.{second}.{third}.0/24")
                  for second in (213, 214) for third in random.sample(range(256), 40)]
    return str(next(c for c in candidates if not any(c.overlaps(t) for t in taken)))


def test_observe_reports_state_ip_port_and_labels(vm_testbed, testbed_vms):
    seen = {vm.name: vm for vm in vm_testbed.machines.observe({LABEL_TESTBED: vm_testbed.prefix})}
    for vm in testbed_vms:
        state = seen[vm.name]
        assert state.running and state.ip == vm.ip and state.ssh_port == vm.address.port
        assert state.network == vm_testbed.network
        assert state.labels["iacorch.stack"] == vm_testbed.prefix
        assert state.address == vm.address.name


def test_network_with_subnet_limits_and_destroy_leave_nothing(vm_testbed):
    network = None
    for _ in range(5):  # another worker may take the same free subnet first
        subnet = free_subnet(vm_testbed.machines.docker)
        try:
            network = vm_testbed.create_network(f"net{subnet.split('.')[2]}", subnet=subnet)
            break
        except ProviderError as error:
            assert "overlaps" in str(error)
    assert network is not None, "no free /24 for a test network"
    vm = vm_testbed.create_vm("limited", network=network, cpus=0.5, memory="256m")
    assert vm.ip.startswith(subnet.rsplit(".", 2)[0] + ".")
    config = json.loads(vm_testbed.machines.docker.text(["inspect", vm.name]))[0]["HostConfig"]
    assert (config["NanoCpus"], config["Memory"]) == (500_000_000, 256 * 1024 * 1024)
    assert "CAP_SYS_ADMIN" in config["CapAdd"] and not config["Privileged"]
    ids = vm_testbed.destroy_vm(vm)
    assert vm_testbed.machines.remove_network_if_empty(network)
    nothing_left(vm_testbed, vm.name)
    assert network not in vm_testbed.machines.networks({LABEL_TESTBED: vm_testbed.prefix})
    assert leaked_cgroup_dirs(ids) == []


@pytest.fixture
def busybox_image(vm_testbed, tmp_path):
    """A 2 MB image built locally (no Docker Hub): FROM scratch + busybox-static."""
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.fail("busybox-static is needed to build the test image: apt-get install -y busybox-static")
    shutil.copy(busybox, tmp_path / "busybox")
    (tmp_path / "Dockerfile").write_text('FROM scratch\nCOPY busybox /bin/busybox\n'
                                         'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n')
    tag = f"{vm_testbed.prefix}/busybox:test"
    docker = DockerCli()
    docker.run(["build", "--quiet", "--label", f"{LABEL_TESTBED}={vm_testbed.prefix}", "-t", tag, str(tmp_path)])
    yield tag
    docker.run(["image", "rm", "-f", tag], check=False)


def test_docker_inside_a_vm_then_destroy_leaves_no_cgroups(vm_testbed, busybox_image):
    vm = vm_testbed.create_vm("dind")
    pool = vm_testbed.ssh
    started = time.monotonic()
    install = Script.of(Command.of("apt-get", "update", "-q"),
                        Command.of("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q",
                                   "--no-install-recommends", "docker.io"))
    pool.run(vm.address, install, timeout=600)
    vm_testbed.record("apt-get install docker.io in a VM (s)", time.monotonic() - started)
    info = pool.run(vm.address, Command.of("docker", "info", "--format", "{{.ServerVersion}} {{.Driver}}"))
    version, driver = info.stdout.split()
    assert version.startswith("20.10") and driver == "overlay2"

    # docker save | ssh docker load, streamed.
    started = time.monotonic()
    save = subprocess.Popen(["docker", "save", busybox_image], stdout=subprocess.PIPE)
    loaded = pool.stream(vm.address, Command.of("docker", "load"), save.stdout)
    assert save.wait(timeout=30) == 0
    vm_testbed.record("docker save | ssh docker load, 2 MB image (s)", time.monotonic() - started)
    assert f"Loaded image: {busybox_image}" in loaded.stdout

    run = pool.run(vm.address, Command.of("docker", "run", "-d", "--name", "nested", busybox_image, "sleep", "600"))
    nested_id = run.stdout.strip()
    assert pool.run(vm.address, Command.of("docker", "exec", "nested", "echo", "inside")).stdout == "inside\n"
    assert leaked_cgroup_dirs([nested_id]), "the check must see a live nested container's cgroup dirs"

    started = time.monotonic()
    ids = vm_testbed.destroy_vm(vm)
    vm_testbed.record("destroy a VM with Docker inside (s)", time.monotonic() - started)
    assert nested_id in ids
    assert leaked_cgroup_dirs(ids) == []
    nothing_left(vm_testbed, vm.name)


def test_engine_errors_are_one_clear_message():
    with pytest.raises(ProviderError) as missing:
        DockerCli(binary="docker-not-installed-here").check_engine()
    assert "is not installed" in str(missing.value) and "apt-get install" in str(missing.value)
    with pytest.raises(ProviderError) as refused:
        DockerCli().run(["--host", "unix:///nonexistent/docker.sock", "version"])
    assert "not running" in str(refused.value) and "dockerd" in str(refused.value)


def test_base_image_is_tagged_by_recipe_and_built_once_under_the_lock(vm_testbed, monkeypatch):
    docker = vm_testbed.machines.docker
    recipe = base_image.Recipe.load()
    assert vm_testbed.image == recipe.tag
    labels = json.loads(docker.text(["image", "inspect", "--format", "{{json .Config.Labels}}", recipe.tag]))
    assert labels["iacorch.recipe"] == recipe.digest
    # A changed recipe means a new tag; three workers asking at once build it once.
    changed = base_image.Recipe({**recipe.files, "sshd_config": recipe.files["sshd_config"] + b"\n# changed\n"})
    assert changed.digest != recipe.digest
    builds = []

    def pretend_build(docker_cli, wanted):
        builds.append(wanted.digest)
        time.sleep(0.5)
        docker_cli.run(["tag", recipe.tag, wanted.tag])

    monkeypatch.setattr(base_image, "build_base_image", pretend_build)
    try:
        with ThreadPoolExecutor(max_workers=3) as workers:
            tags = list(workers.map(lambda _: base_image.ensure_base_image(docker, changed), range(3)))
        assert tags == [changed.tag] * 3
        assert builds == [changed.digest]
    finally:
        docker.run(["image", "rm", changed.tag], check=False)


def test_reap_orphans_removes_only_dead_sessions_of_our_pid_namespace(vm_testbed):
    machines = vm_testbed.machines
    finished = subprocess.Popen(["true"])
    finished.wait()
    namespace = os.readlink("/proc/self/ns/pid")
    owners = {"dead": f"{namespace}:{finished.pid}", "elsewhere": f"pid:[1]:{finished.pid}",
              "alive": f"{namespace}:{os.getpid()}"}
    names = {kind: f"{vm_testbed.prefix}-orphan-{kind}" for kind in owners}
    for kind, owner in owners.items():
        machines.ensure_network(names[kind], "orphans", labels={LABEL_TESTBED: f"{vm_testbed.prefix}-{kind}",
                                                                 "iacorch.testbed.pid": owner})
    try:
        reaped = reap_orphans(machines)
        left = docker_names(vm_testbed, "network")
        assert names["dead"] not in left and names["elsewhere"] in left and names["alive"] in left
        assert reaped  # reported (by id)
    finally:
        for name in names.values():
            machines.remove_network_if_empty(name)


def docker_names(vm_testbed, kind: str) -> list[str]:
    return vm_testbed.machines.docker.text([kind, "ls", "--format", "{{.Name}}"]).split()


def test_client_key_is_created_once_with_mode_0600(tmp_path):
    first = load_or_create_client_key(tmp_path / "keys" / "id_ed25519")
    again = load_or_create_client_key(tmp_path / "keys" / "id_ed25519")
    assert again == first and first.public.startswith("ssh-ed25519 ")
    assert stat.S_IMODE((tmp_path / "keys" / "id_ed25519").stat().st_mode) == 0o600
    assert first.fingerprint.startswith("SHA256:") and "PRIVATE" not in repr(first)
