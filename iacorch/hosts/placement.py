"""Where replicas run: spread over a group's hosts, within each host's capacity,
and stable — a replica that runs on a host that still fits stays there. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping


@dataclass
class HostRoom:
    """A host's capacity (None: unknown, so unlimited) and what is placed on it so far."""

    address: str
    cpus: float | None = None
    memory: int | None = None
    used_cpus: float = 0.0
    used_memory: int = 0
    placed: dict[str, int] = field(default_factory=dict)  # service -> replicas here

    def fits(self, cpus: float | None, memory: int | None) -> bool:
        if cpus and self.cpus is not None and self.used_cpus + cpus > self.cpus + 1e-9:
            return False
        if memory and self.memory is not None and self.used_memory + memory > self.memory:
            return False
        return True

    def take(self, service: str, cpus: float | None, memory: int | None) -> None:
        self.used_cpus += cpus or 0.0
        self.used_memory += memory or 0
        self.placed[service] = self.placed.get(service, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.placed.values())


@dataclass(frozen=True)
class Placement:
    replicas: Mapping[int, str]  # replica -> host address
    unplaced: tuple[int, ...] = ()


def place(service: str, wanted: Iterable[int], rooms: list[HostRoom], current: Mapping[int, str],
          cpus: float | None, memory: int | None, avoid: Mapping[int, str] | None = None) -> Placement:
    """Place ``wanted`` replicas of ``service`` on ``rooms`` (which it updates).

    ``current`` says where replicas run now. They stay if their host is still
    in the group and fits; the rest go, one by one in replica order, to the
    host with the fewest replicas of this service, then the fewest in all,
    then the first in group order. A replica in ``avoid`` goes to another host
    than the one named there when any other fits.
    """
    avoid = avoid or {}
    by_addr = {r.address: r for r in rooms}
    wanted = sorted(wanted)
    out: dict[int, str] = {}
    for replica in wanted:
        host = by_addr.get(current.get(replica, ""))
        if host is not None and host.fits(cpus, memory):
            host.take(service, cpus, memory)
            out[replica] = host.address
    unplaced = []
    order = {r.address: i for i, r in enumerate(rooms)}
    for replica in wanted:
        if replica in out:
            continue
        candidates = [r for r in rooms if r.fits(cpus, memory)]
        elsewhere = [r for r in candidates if r.address != avoid.get(replica)]
        candidates = elsewhere or candidates
        if not candidates:
            unplaced.append(replica)
            continue
        best = min(candidates, key=lambda r: (r.placed.get(service, 0), r.total, order[r.address]))
        best.take(service, cpus, memory)
        out[replica] = best.address
    return Placement(out, tuple(unplaced))


def place_global(service: str, rooms: list[HostRoom], cpus: float | None, memory: int | None,
                 index_of) -> Placement:
    """One replica per host; the replica number is the host's index in its group."""
    out, unplaced = {}, []
    for room in rooms:
        replica = index_of(room.address)
        if room.fits(cpus, memory):
            room.take(service, cpus, memory)
            out[replica] = room.address
        else:
            unplaced.append(replica)
    return Placement(out, tuple(unplaced))
