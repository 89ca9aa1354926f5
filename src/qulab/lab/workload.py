"""A seeded workload over the scratch rows, and the version oracle that judges every read.

``Workload`` describes it (keys, Zipf skew, read ratio, operations, concurrency, TTL, seed);
``operations`` turns it into the same list of reads and writes for the same seed. The
``VersionOracle`` records each write's version when the write completes; a read is *stale*
when it returns a version older than the newest one completed before the read began, and its
staleness is how long the newer version had been there.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import asdict, dataclass
from typing import Any, Literal

from qulab.core import InvalidInput

Kind = Literal["read", "write"]


@dataclass(frozen=True)
class Workload:
    keys: int = 100
    zipf: float = 0.8
    read_ratio: float = 0.9
    ops: int = 2000
    concurrency: int = 16
    ttl: float = 30.0
    seed: int = 1
    stampede_readers: int = 200
    kill_flusher_at: float = 1.0  # fraction of the operations after which write-behind dies

    def __post_init__(self) -> None:
        _check("keys", self.keys, 1, 100_000)
        _check("zipf", self.zipf, 0.0, 3.0)
        _check("read_ratio", self.read_ratio, 0.0, 1.0)
        _check("ops", self.ops, 1, 1_000_000)
        _check("concurrency", self.concurrency, 1, 1000)
        _check("ttl", self.ttl, 0.001, 86_400.0)
        _check("stampede_readers", self.stampede_readers, 0, 10_000)
        _check("kill_flusher_at", self.kill_flusher_at, 0.0, 1.0)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise InvalidInput(name, f"must be between {low:g} and {high:g}, got {value:g}")


@dataclass(frozen=True)
class Operation:
    kind: Kind
    key: int


def operations(workload: Workload) -> list[Operation]:
    """The workload's operations: keys drawn by Zipf rank (key 0 hottest), kinds by ratio."""
    rng = random.Random(workload.seed)
    weights = [1.0 / (rank + 1) ** workload.zipf for rank in range(workload.keys)]
    cumulative = list(itertools.accumulate(weights))
    keys = rng.choices(range(workload.keys), cum_weights=cumulative, k=workload.ops)
    return [
        Operation("read" if rng.random() < workload.read_ratio else "write", key) for key in keys
    ]


class VersionOracle:
    """Per row: the newest completed version and when each version completed."""

    def __init__(self, initial: dict[str, int], clock_start: float = 0.0) -> None:
        self._latest = dict(initial)
        self._reserved = dict(initial)
        self._completed: dict[str, list[tuple[int, float]]] = {
            ident: [(version, clock_start)] for ident, version in initial.items()
        }
        self.acknowledged: list[tuple[str, int]] = []

    def reserve(self, ident: str) -> int:
        """The next version to write for ``ident`` (each write gets a new, higher one)."""
        version = self._reserved.get(ident, 0) + 1
        self._reserved[ident] = version
        return version

    def complete(self, ident: str, version: int, at: float) -> None:
        self.acknowledged.append((ident, version))
        if version > self._latest.get(ident, -1):
            self._latest[ident] = version
            self._completed.setdefault(ident, []).append((version, at))

    def latest(self, ident: str) -> int:
        return self._latest.get(ident, 0)

    def staleness(self, ident: str, returned: int, newest_at_start: int, started: float) -> float:
        """Seconds the returned value had been outdated when the read began (0 if it was not)."""
        if returned >= newest_at_start:
            return 0.0
        for version, at in self._completed.get(ident, []):
            if version > returned:
                return max(0.0, started - at)
        return 0.0

    def lost(self, committed: dict[str, int]) -> int:
        """Acknowledged writes whose version the database never received (nor a newer one)."""
        return sum(1 for ident, version in self.acknowledged if committed.get(ident, 0) < version)
