"""Cache statistics per key family, and the lab's formulas computed from measured values.

H = hits / requests
T_avg = H * T_cache + (1 - H) * (T_cache + T_database)

T_cache is the mean time of a hit; T_database is what a miss costs on top of the cache lookup
(mean miss time minus T_cache). Counters and recent latency samples are recorded in process and
flushed to the backend under the cache prefix, so with Redis every process adds to one shared
readout; with the in-process backend the readout covers this process only.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

COUNTERS = (
    "hits",
    "misses",
    "errors",
    "sets",
    "invalidations",
    "coalesced",
    "corrupt",
    "negative_hits",
    "bypassed",
    "wrong_type",
    "oversize",
    "too_large",
)
SAMPLE_CAP = 2048


class FamilyRecorder:
    """Counts and latency samples of one key family, plus what has not been flushed yet.

    Recording is on every read's path, so it is a counter increment and two appends; what is
    pending is worked out when it is taken (counts minus those already flushed)."""

    __slots__ = (
        "counters",
        "flushed",
        "hit_seconds",
        "miss_seconds",
        "pending_hits",
        "pending_misses",
    )

    def __init__(self) -> None:
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.flushed: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.hit_seconds: deque[float] = deque(maxlen=SAMPLE_CAP)
        self.miss_seconds: deque[float] = deque(maxlen=SAMPLE_CAP)
        self.pending_hits: deque[float] = deque(maxlen=SAMPLE_CAP)
        self.pending_misses: deque[float] = deque(maxlen=SAMPLE_CAP)

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n

    def hit(self, seconds: float) -> None:
        self.counters["hits"] += 1
        self.hit_seconds.append(seconds)
        self.pending_hits.append(seconds)

    def miss(self, seconds: float) -> None:
        self.counters["misses"] += 1
        self.miss_seconds.append(seconds)
        self.pending_misses.append(seconds)

    def take_pending(self) -> tuple[dict[str, int], list[float], list[float]]:
        counts = {
            name: value - self.flushed[name]
            for name, value in self.counters.items()
            if value != self.flushed[name]
        }
        self.flushed = dict(self.counters)
        taken = (counts, list(self.pending_hits), list(self.pending_misses))
        self.pending_hits.clear()
        self.pending_misses.clear()
        return taken

    def give_back(self, counts: Mapping[str, int], hits: list[float], misses: list[float]) -> None:
        """Undo ``take_pending`` after a flush that failed: push these again next time."""
        for name, n in counts.items():
            self.flushed[name] -= n
        self.pending_hits.extendleft(reversed(hits))
        self.pending_misses.extendleft(reversed(misses))

    def reset(self) -> None:
        for name in COUNTERS:
            self.counters[name] = 0
            self.flushed[name] = 0
        for samples in (
            self.hit_seconds,
            self.miss_seconds,
            self.pending_hits,
            self.pending_misses,
        ):
            samples.clear()


@dataclass(frozen=True)
class FamilyStats:
    family: str
    hits: int
    misses: int
    errors: int
    sets: int
    invalidations: int
    coalesced: int
    corrupt: int
    negative_hits: int
    bypassed: int
    wrong_type: int
    oversize: int
    too_large: int
    requests: int
    hit_ratio: float | None
    hit_p50_s: float | None
    hit_p95_s: float | None
    miss_p50_s: float | None
    miss_p95_s: float | None
    t_cache_s: float | None
    t_database_s: float | None
    t_avg_formula_s: float | None
    t_avg_measured_s: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(samples: list[float], p: float) -> float | None:
    if not samples:
        return None
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def average_access_time(hit_ratio: float, t_cache: float, t_database: float) -> float:
    """T_avg = H * T_cache + (1 - H) * (T_cache + T_database)."""
    return hit_ratio * t_cache + (1 - hit_ratio) * (t_cache + t_database)


def summarise(
    family: str,
    counters: Mapping[str, int],
    hit_seconds: Iterable[float],
    miss_seconds: Iterable[float],
) -> FamilyStats:
    values = {name: int(counters.get(name, 0)) for name in COUNTERS}
    hits_s, misses_s = list(hit_seconds), list(miss_seconds)
    requests = values["hits"] + values["misses"]
    ratio = values["hits"] / requests if requests else None
    t_cache = statistics.fmean(hits_s) if hits_s else None
    t_miss = statistics.fmean(misses_s) if misses_s else None
    t_database = max(t_miss - t_cache, 0.0) if t_miss is not None and t_cache is not None else None
    formula = None
    if ratio is not None and t_cache is not None and t_database is not None:
        formula = average_access_time(ratio, t_cache, t_database)
    measured = statistics.fmean(hits_s + misses_s) if hits_s or misses_s else None
    return FamilyStats(
        family=family,
        **values,
        requests=requests,
        hit_ratio=ratio,
        hit_p50_s=percentile(hits_s, 50),
        hit_p95_s=percentile(hits_s, 95),
        miss_p50_s=percentile(misses_s, 50),
        miss_p95_s=percentile(misses_s, 95),
        t_cache_s=t_cache,
        t_database_s=t_database,
        t_avg_formula_s=formula,
        t_avg_measured_s=measured,
    )


@dataclass(frozen=True)
class StatsSnapshot:
    """Statistics of every family. ``scope`` says whose reads they cover."""

    scope: str
    families: dict[str, FamilyStats]
    breaker_state: str
    breaker_rejected: int

    @property
    def total(self) -> FamilyStats:
        counters = {
            name: sum(getattr(stats, name) for stats in self.families.values()) for name in COUNTERS
        }
        return summarise("total", counters, [], [])

    def as_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "breaker": {"state": self.breaker_state, "rejected": self.breaker_rejected},
            "families": {name: stats.as_dict() for name, stats in self.families.items()},
        }
