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
from dataclasses import asdict, dataclass, field
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


@dataclass
class FamilyRecorder:
    """Counts and latency samples of one key family, plus what has not been flushed yet."""

    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    hit_seconds: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLE_CAP))
    miss_seconds: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLE_CAP))
    pending: dict[str, int] = field(default_factory=dict)
    pending_hits: list[float] = field(default_factory=list)
    pending_misses: list[float] = field(default_factory=list)

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n
        self.pending[name] = self.pending.get(name, 0) + n

    def hit(self, seconds: float) -> None:
        self.count("hits")
        self.hit_seconds.append(seconds)
        self.pending_hits.append(seconds)
        del self.pending_hits[:-SAMPLE_CAP]

    def miss(self, seconds: float) -> None:
        self.count("misses")
        self.miss_seconds.append(seconds)
        self.pending_misses.append(seconds)
        del self.pending_misses[:-SAMPLE_CAP]

    def take_pending(self) -> tuple[dict[str, int], list[float], list[float]]:
        taken = (self.pending, self.pending_hits, self.pending_misses)
        self.pending, self.pending_hits, self.pending_misses = {}, [], []
        return taken

    def reset(self) -> None:
        fresh = FamilyRecorder()
        self.counters, self.hit_seconds, self.miss_seconds = (
            fresh.counters,
            fresh.hit_seconds,
            fresh.miss_seconds,
        )
        self.take_pending()


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
