"""Docker on a host, as command objects (argv lists, like Kamal's command classes). No I/O."""

from __future__ import annotations

from importlib import resources

from iacorch.command import Command, Secret, write_secret_file
from iacorch.hosts.containers import LABEL_STACK, ContainerSpec

MIN_DOCKER_MAJOR = 20


def install_script() -> str:
    return (resources.files("templates") / "install-docker.sh").read_text()


def install_engine() -> Command:
    """Runs the install script fed on stdin (so the script text is not a command line)."""
    return Command.of("sh", "-c", f'MIN_MAJOR={MIN_DOCKER_MAJOR} sh -s',
                      stdin=install_script().encode())


def version() -> Command:
    return Command.of("docker", "version", "--format", "{{.Server.Version}}")


def containers_of(stack: str) -> Command:
    """Every container of the stack, as one JSON array from ``docker inspect`` (or nothing)."""
    ids = f'$(docker ps -aq --no-trunc --filter label={LABEL_STACK}={stack})'
    return Command.shell(f'ids={ids}; [ -z "$ids" ] || docker inspect $ids')


def images() -> Command:
    return Command.of("docker", "image", "ls", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")


def capacity() -> Command:
    """CPUs, then memory in bytes (MemTotal is in KiB; %.0f keeps awk from printing 2.5e+10)."""
    return Command.shell("nproc; awk '/^MemTotal:/ {printf \"%.0f\\n\", $2 * 1024}' /proc/meminfo")


def image_present(ref: str) -> Command:
    return Command.of("docker", "image", "inspect", "--format", "{{.Id}}", ref)


def pull(ref: str) -> Command:
    return Command.of("docker", "pull", "--quiet", ref)


def load() -> Command:
    """Reads a ``docker save`` stream on stdin."""
    return Command.of("docker", "load", "--quiet")


def run(spec: ContainerSpec, name: str, env_file_path: str | None = None) -> Command:
    return Command.of("docker", *spec.run_args(name, env_file_path=env_file_path))


def remove(name: str) -> Command:
    """Stop and remove; exits 0 when the container is already gone."""
    return Command.of("sh", "-c", 'docker rm -f -- "$1" >/dev/null 2>&1 || ! docker inspect -- "$1" >/dev/null 2>&1',
                      "remove", name)


def stop(name: str, timeout: int = 10) -> Command:
    return Command.of("docker", "stop", "--time", str(timeout), name)


def start(name: str) -> Command:
    return Command.of("docker", "start", name)


def restart(name: str, timeout: int = 5) -> Command:
    return Command.of("docker", "restart", "--time", str(timeout), name)


def rename(old: str, new: str) -> Command:
    return Command.of("docker", "rename", old, new)


def update_limits(name: str, cpus: float | None, memory: int | None) -> Command:
    args = ["docker", "update"]
    if cpus is not None:
        args += ["--cpus", f"{cpus:g}"]
    if memory is not None:
        # memory-swap must move with memory, or docker refuses a lower memory than the swap limit
        args += ["--memory", str(memory), "--memory-swap", str(memory * 2)]
    return Command.of(*args, name)


def health_status(name: str) -> Command:
    return Command.of("docker", "inspect", "--format",
                      "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}", name)


def logs_tail(name: str, lines: int = 20) -> Command:
    return Command.of("docker", "logs", "--tail", str(lines), name)


def write_env_file(path: str, values: dict[str, Secret]) -> Command:
    """The secrets of one release as an env file, 0600 on the host's tmpfs, fed through stdin."""
    body = "".join(f"{k}={v.reveal_bytes().decode()}\n" for k, v in sorted(values.items()))
    return write_secret_file(Secret(body, "env file"), path)

