"""Finding cgroup directories that removed containers left behind on this machine.

Nested dockerd (Docker inside a VM container) creates ``/sys/fs/cgroup/*/docker/<id>``
next to the VM's own; removing a VM with nested containers still running leaves them
behind, empty. ``LocalMachines.remove`` stops nested containers first and returns the
ids involved, so callers (and tests) can check that none remain.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")

_PATTERNS = ("*/docker/{id}", "*/system.slice/docker-{id}.scope", "docker/{id}", "system.slice/docker-{id}.scope")


def leaked_cgroup_dirs(container_ids: Iterable[str], root: Path = CGROUP_ROOT) -> list[Path]:
    """The cgroup directories still present for containers that should be gone."""
    found: set[Path] = set()
    for container_id in container_ids:
        if not container_id or "/" in container_id or "*" in container_id:
            continue
        for pattern in _PATTERNS:
            found.update(path for path in root.glob(pattern.format(id=container_id)) if path.is_dir())
    return sorted(found)


def remove_cgroup_dirs(paths: Iterable[Path]) -> list[Path]:
    """rmdir leaked (empty) cgroup directories, deepest first; returns those that could not go."""
    stuck = []
    for path in sorted(paths, key=lambda p: len(p.parts), reverse=True):
        try:
            path.rmdir()
        except FileNotFoundError:
            continue
        except OSError:
            stuck.append(path)
    return stuck
