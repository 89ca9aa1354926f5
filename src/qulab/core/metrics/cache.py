"""Cache metrics: reads by key family and outcome with their latency, backend errors and
invalidation rounds (recorded as they happen), and the breaker's state and the deferred
invalidations (read from the cache when scraped)."""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from qulab.core.cache import BreakerState, Cache

# From a fast in-process hit (tens of µs) to a read that waited on a slow database.
LATENCY_BUCKETS = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
FAMILIES = ("user", "latest_airscore")
OUTCOMES = ("HIT", "MISS", "BYPASS")
_READS_HELP = (
    "Read-through cache reads by key family and outcome: hit, miss (loaded from the database), "
    "bypass (the cache was unavailable; the database answered)."
)
_SECONDS_HELP = "Time of one read-through cache read, by key family and outcome."


class _Tally:
    """One (family, outcome)'s reads: how many, their total time, and a count per bucket."""

    __slots__ = ("buckets", "count", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf


class CacheMetrics(Collector):
    """The cache's recorder. A read is on the hit path, so it is tallied here under one lock
    (a counter and a histogram of the library would take three) and turned into the
    ``qulab_cache_reads_total`` counter and the ``qulab_cache_read_seconds`` histogram when
    scraped; both come from one snapshot, so they always agree."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._lock = threading.Lock()
        self._tallies = {(family, outcome): _Tally() for family in FAMILIES for outcome in OUTCOMES}
        self._errors = Counter(
            "qulab_cache_errors",
            "Cache backend calls that failed (timeouts, refused connections), by key family.",
            ["family"],
            registry=registry,
        )
        for family in FAMILIES:
            self._errors.labels(family)
        self._invalidations = Histogram(
            "qulab_cache_invalidation_seconds",
            "Time of one invalidation round delivered to the cache backend.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        registry.register(self)

    def read(self, family: str, outcome: str, seconds: float) -> None:
        key = (family, outcome)
        with self._lock:
            tally = self._tallies.get(key)
            if tally is None:
                tally = self._tallies[key] = _Tally()
            tally.count += 1
            tally.total += seconds
            tally.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1

    def error(self, family: str) -> None:
        self._errors.labels(family).inc()

    def invalidation(self, keys: int, seconds: float) -> None:
        self._invalidations.observe(seconds)

    def describe(self) -> Iterable[Metric]:
        yield CounterMetricFamily("qulab_cache_reads", _READS_HELP, labels=["family", "outcome"])
        yield HistogramMetricFamily(
            "qulab_cache_read_seconds", _SECONDS_HELP, labels=["family", "outcome"]
        )

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            snapshot = [
                (family, outcome, tally.count, tally.total, list(tally.buckets))
                for (family, outcome), tally in sorted(self._tallies.items())
            ]
        reads = CounterMetricFamily("qulab_cache_reads", _READS_HELP, labels=["family", "outcome"])
        seconds = HistogramMetricFamily(
            "qulab_cache_read_seconds", _SECONDS_HELP, labels=["family", "outcome"]
        )
        bounds = [repr(bound) for bound in LATENCY_BUCKETS] + ["+Inf"]
        for family, outcome, count, total, buckets in snapshot:
            labels = [family, outcome.lower()]
            reads.add_metric(labels, count)
            cumulative, running = [], 0
            for bound, n in zip(bounds, buckets, strict=True):
                running += n
                cumulative.append((bound, float(running)))
            seconds.add_metric(labels, cumulative, total)
        yield reads
        yield seconds


def cache_state(cache: Cache) -> Iterator[Metric]:
    """The breaker and the deferred invalidations as they are now (no backend call)."""
    breaker = cache.breaker
    state = GaugeMetricFamily(
        "qulab_cache_breaker_state",
        "The cache's circuit breaker: 1 for its current state (closed, open, half_open).",
        labels=["state"],
    )
    for candidate in BreakerState:
        state.add_metric([candidate.value], 1.0 if breaker.state is candidate else 0.0)
    yield state
    yield CounterMetricFamily(
        "qulab_cache_breaker_rejected",
        "Cache calls the open breaker refused at once (each one read from the database).",
        value=breaker.rejected,
    )
    yield GaugeMetricFamily(
        "qulab_cache_deferred_invalidations",
        "Cache keys whose invalidation waits for the backend to answer again.",
        value=len(cache.pending_invalidations),
    )
