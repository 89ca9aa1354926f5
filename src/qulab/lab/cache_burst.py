"""Cache fetches measured in bursts, and the access-time figures computed from those samples.

One fetch is one sample: too few to say anything about a latency. A burst runs the same
read-through fetch several times in a row; its summary (median, p95) and the page's
``T_cache``, ``T_database`` and ``T_avg = H*T_cache + (1 - H)*(T_cache + T_database)`` (the
formula the cache's own statistics use: a miss looks in the cache first) all come from the
samples the page shows, so the numbers can be checked against each other. A figure that no
sample supports (``T_database`` before a hit and a miss) is ``None``, never 0.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from qulab.core import InvalidInput
from qulab.core.cache import CacheResult, Outcome, average_access_time

BURST_SIZE = 20
MAX_BURST = 200

Fetch = Callable[[], Awaitable[CacheResult[Any]]]


@dataclass(frozen=True)
class Sample:
    """One fetch: what was read, whether the cache answered, and how long it took."""

    what: str
    outcome: str
    seconds: float


@dataclass(frozen=True)
class Burst:
    """``len(samples)`` fetches of one thing in a row, and the last value fetched."""

    what: str
    samples: tuple[Sample, ...]
    last: CacheResult[Any]

    @property
    def median_s(self) -> float:
        return statistics.median(sample.seconds for sample in self.samples)

    @property
    def p95_s(self) -> float:
        return percentile([sample.seconds for sample in self.samples], 95)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for sample in self.samples if sample.outcome == str(outcome))


def percentile(values: Sequence[float], pct: float) -> float:
    """The nearest-rank percentile: the smallest value with ``pct`` % of the values at or
    below it (so the p95 of 20 samples is the 19th fastest)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


async def fetch_burst(what: str, fetch: Fetch, size: int = BURST_SIZE) -> Burst:
    """Run ``fetch`` ``size`` times in a row and keep every sample."""
    if not 1 <= size <= MAX_BURST:
        raise InvalidInput("burst", f"must be between 1 and {MAX_BURST}")
    samples = []
    result: CacheResult[Any] | None = None
    for _ in range(size):
        result = await fetch()
        samples.append(Sample(what, str(result.outcome), result.seconds))
    assert result is not None
    return Burst(what, tuple(samples), result)


@dataclass(frozen=True)
class AccessTimes:
    """H, T_cache (mean hit), T_miss (mean miss), T_database (what a miss adds to a hit: mean
    miss - mean hit, at least 0) and T_avg from a list of samples.

    BYPASS samples (the cache did not answer) count in neither hits nor misses.
    """

    hits: int
    misses: int
    t_cache_s: float | None
    t_miss_s: float | None

    @property
    def t_database_s(self) -> float | None:
        if self.t_cache_s is None or self.t_miss_s is None:
            return None
        return max(self.t_miss_s - self.t_cache_s, 0.0)

    @property
    def hit_ratio(self) -> float | None:
        total = self.hits + self.misses
        return self.hits / total if total else None

    @property
    def t_avg_s(self) -> float | None:
        h = self.hit_ratio
        t_database = self.t_database_s
        if h is None or self.t_cache_s is None or t_database is None:
            return None
        return average_access_time(h, self.t_cache_s, t_database)


def access_times(samples: Sequence[Sample]) -> AccessTimes:
    hits = [sample.seconds for sample in samples if sample.outcome == str(Outcome.HIT)]
    misses = [sample.seconds for sample in samples if sample.outcome == str(Outcome.MISS)]
    return AccessTimes(
        hits=len(hits),
        misses=len(misses),
        t_cache_s=statistics.fmean(hits) if hits else None,
        t_miss_s=statistics.fmean(misses) if misses else None,
    )
