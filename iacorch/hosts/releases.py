"""A service's releases, read from its containers: the active instance of each replica and
the releases kept (stopped) beside it. Rollback targets come from here. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from iacorch.errors import IacorchError
from iacorch.resources import Observed


@dataclass(frozen=True)
class Release:
    release: str
    image: str
    started: str  # the latest start of any of its instances (ISO time)
    active: int  # replicas it serves now
    kept: int  # replicas that keep it, stopped, for rollback

    @property
    def status(self) -> str:
        return f"active on {self.active} replica(s)" if self.active else "kept"


def _of(service: str, table: Mapping[str, Any]) -> dict[str, Any]:
    return {a: v for a, v in table.items() if a.startswith(f"service.{service}[")}


def releases(observed: Observed, service: str) -> list[Release]:
    runtime = observed.runtime
    found: dict[str, dict[str, Any]] = {}
    for address, info in _of(service, runtime.get("containers", {})).items():
        if "~" in address or not info.get("release"):
            continue
        r = found.setdefault(info["release"], {"image": info["image"], "started": "", "active": 0, "kept": 0})
        r["active"] += 1
        r["started"] = max(r["started"], info.get("started_at") or "")
    for infos in _of(service, runtime.get("retained", {})).values():
        for info in infos:
            if not info.get("release"):
                continue
            r = found.setdefault(info["release"], {"image": info["image"], "started": "", "active": 0, "kept": 0})
            r["kept"] += 1
            r["started"] = max(r["started"], info.get("started_at") or "")
    out = [Release(rel, v["image"], v["started"], v["active"], v["kept"]) for rel, v in found.items()]
    return sorted(out, key=lambda r: r.started, reverse=True)


@dataclass(frozen=True)
class Revert:
    """Switch ``address`` (on ``host``) to the kept instance ``candidate`` on slot ``port``."""

    address: str
    host: str
    candidate: str
    port: int | None
    release: str


def rollback_targets(observed: Observed, service: str, to: str | None) -> list[Revert]:
    """For every replica of the service, the kept instance of release ``to`` (default: the newest
    release that no replica serves now). Refuses when a replica has no such instance."""
    active = {a: i for a, i in _of(service, observed.runtime.get("containers", {})).items() if "~" not in a}
    if not active:
        raise IacorchError(f"service {service} has no running replicas to roll back")
    current = {i["release"] for i in active.values()}
    known = releases(observed, service)
    retained = _of(service, observed.runtime.get("retained", {}))
    if to is None:
        # the newest release, other than what runs now, that every replica keeps
        def kept_everywhere(release: str) -> bool:
            return all(any(k["release"] == release and k["host"] == info["host"] for k in retained.get(a, []))
                       for a, info in active.items() if info["release"] != release)

        previous = [r for r in known if r.release not in current and r.kept and kept_everywhere(r.release)]
        if not previous:
            raise IacorchError(f"service {service} has no release kept on all its replicas to roll back to",
                               hint=f"iacorch releases STACKFILE {service} lists what is kept; pick one with --to")
        to = previous[0].release
    elif not any(r.release == to or r.release.startswith(to) for r in known):
        raise IacorchError(f"service {service} has no release {to}",
                           hint=f"iacorch releases STACKFILE {service} lists them")
    else:
        to = next(r.release for r in known if r.release == to or r.release.startswith(to))
    out, missing = [], []
    for address, info in sorted(active.items()):
        if info["release"] == to:
            continue  # already on it
        kept = [k for k in retained.get(address, []) if k["release"] == to and k["host"] == info["host"]]
        if not kept:
            missing.append(address)
            continue
        k = max(kept, key=lambda k: k.get("started_at") or "")
        out.append(Revert(address, info["host"], k["name"], k.get("host_port"), to))
    if missing:
        raise IacorchError(f"release {to} of {service} is not kept on {', '.join(missing)}; nothing was changed",
                           hint="roll forward instead: apply the stack with the version you want")
    return out
