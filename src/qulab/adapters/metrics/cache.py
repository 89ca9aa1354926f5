"""Cache metrics: reads by key family and outcome with their latency, backend errors and
invalidation rounds (recorded as they happen), and the breaker's state and the deferred
invalidations (read from the cache when scraped)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from qulab.adapters.cache import BreakerState, Cache

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


class CacheMetrics:
    """The cache's recorder. Label children are bound once, so a hit costs one dictionary
    lookup, one counter increment and one histogram observation."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._reads = Counter(
            "qulab_cache_reads",
            "Read-through cache reads by key family and outcome: hit, miss (loaded from the "
            "database), bypass (the cache was unavailable; the database answered).",
            ["family", "outcome"],
            registry=registry,
        )
        self._seconds = Histogram(
            "qulab_cache_read_seconds",
            "Time of one read-through cache read, by key family and outcome.",
            ["family", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._errors = Counter(
            "qulab_cache_errors",
            "Cache backend calls that failed (timeouts, refused connections), by key family.",
            ["family"],
            registry=registry,
        )
        self._invalidations = Histogram(
            "qulab_cache_invalidation_seconds",
            "Time of one invalidation round delivered to the cache backend.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._bound: dict[tuple[str, str], tuple[Any, Any]] = {}
        for family in FAMILIES:
            self._errors.labels(family)
            for outcome in OUTCOMES:
                self._bind(family, outcome)

    def _bind(self, family: str, outcome: str) -> tuple[Any, Any]:
        label = outcome.lower()
        pair = (self._reads.labels(family, label), self._seconds.labels(family, label))
        self._bound[(family, outcome)] = pair
        return pair

    def read(self, family: str, outcome: str, seconds: float) -> None:
        reads, latency = self._bound.get((family, outcome)) or self._bind(family, outcome)
        reads.inc()
        latency.observe(seconds)

    def error(self, family: str) -> None:
        self._errors.labels(family).inc()

    def invalidation(self, keys: int, seconds: float) -> None:
        self._invalidations.observe(seconds)


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
