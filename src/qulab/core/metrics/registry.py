"""``Metrics``: one process's Prometheus metrics, on a registry of its own.

Not the library's global registry: tests, the app and several runtimes in one process never
collide, and only what QuLab exposes (plus the process, platform and GC collectors) is served.
Recorders are handed to the adapters (``watch`` sets the cache's; the relay takes
``metrics.relay``); the pool and the breaker are read when scraped, which costs no query.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from qulab.core.cache import Cache
from qulab.core.db import Database
from qulab.core.metrics.cache import CacheMetrics, cache_state
from qulab.core.metrics.consumer import ConsumerFamilies, ConsumerMetrics
from qulab.core.metrics.outbox import RelayMetrics
from qulab.core.metrics.pool import pool_state
from qulab.core.metrics.replicas import replica_state

MAX_EVENT_TYPES = 100  # event types beyond the domain's own before the rest count as "other"


class _Watched(Collector):
    """Reads the watched database's pool and cache's breaker at scrape time."""

    def __init__(self) -> None:
        self.db: Database | None = None
        self.cache: Cache | None = None

    def describe(self) -> Iterable[Metric]:
        return ()  # the families depend on what is watched; never collect at registration

    def collect(self) -> Iterable[Metric]:
        db, cache = self.db, self.cache
        if db is not None:
            yield from pool_state(db)
            if db.replicas is not None:
                yield from replica_state(db.replicas)
        if cache is not None:
            yield from cache_state(cache)


class Metrics:
    """The registry, the recorders the adapters call and the collectors read when scraped."""

    def __init__(self, *, max_event_types: int = MAX_EVENT_TYPES) -> None:
        # No ``*_created`` series: one more per counter and histogram child, which dashboards
        # and alerts never read. The switch is the library's and process-wide.
        disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in the library
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.max_event_types = max_event_types
        self.cache = CacheMetrics(self.registry)
        self.relay = RelayMetrics(self.registry, max_event_types)
        self._watched = _Watched()
        self.registry.register(self._watched)
        self._consumers: ConsumerFamilies | None = None
        self._lock = threading.Lock()

    @property
    def watched_cache(self) -> Cache | None:
        return self._watched.cache

    @property
    def watched_db(self) -> Database | None:
        return self._watched.db

    def watch(self, *, db: Database | None = None, cache: Cache | None = None) -> None:
        """Report ``db``'s pool and ``cache``'s reads, errors, breaker and deferred
        invalidations from now on. A later call replaces what it names; calling it again with
        the same objects changes nothing."""
        if db is not None:
            self._watched.db = db
        if cache is not None:
            cache.metrics = self.cache
            self._watched.cache = cache

    def consumer(self, name: str) -> ConsumerMetrics:
        """The recorder of consumer ``name`` (its families are registered on first use)."""
        with self._lock:
            if self._consumers is None:
                self._consumers = ConsumerFamilies(self.registry, self.max_event_types)
            return ConsumerMetrics(self._consumers, name)
