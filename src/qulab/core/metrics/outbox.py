"""Outbox metrics: what the relay published, failed to publish and dead-lettered by event type,
how long a batch took the broker, and the backlog it reads between batches (lag by partition,
pending and dead-lettered counts, and when they were read; in ``wal`` mode the WAL the slot
keeps)."""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from qulab.core.events import EVENT_TYPES
from qulab.core.metrics.labels import BoundedLabels

BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class _Backlog:
    pending: int
    failed: int
    lag_seconds: Mapping[str, float]
    read_at: float


class RelayMetrics(Collector):
    """The relay's recorder. Counters of the domain's event types start at zero, so a rate is
    defined before the first event of a type goes out; the backlog gauges appear once the
    relay has read the backlog (a gauge of 0 before that would be a claim nobody made)."""

    wants_backlog = True

    def __init__(self, registry: CollectorRegistry, max_event_types: int) -> None:
        self._types = BoundedLabels(max_event_types, known=tuple(EVENT_TYPES))

        def by_type(name: str, documentation: str) -> Counter:
            counter = Counter(name, documentation, ["event_type"], registry=registry)
            for event_type in sorted(self._types.known):
                counter.labels(event_type)
            return counter

        self._published = by_type(
            "qulab_outbox_published", "Events the relay published to the broker, by event type."
        )
        self._failures = by_type(
            "qulab_outbox_publish_failures",
            "Publish attempts that failed (broker down, timed out or refusing the message), "
            "by event type; the event is retried, or dead-lettered after its last attempt.",
        )
        self._dead = by_type(
            "qulab_outbox_dead_lettered",
            "Events that ran out of attempts and were marked failed (dead letters), by type.",
        )
        self._batch_seconds = Histogram(
            "qulab_outbox_publish_batch_seconds",
            "Time the broker took to take one batch (or to fail it).",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self._backlog: _Backlog | None = None
        self._slot: tuple[str, int, int] | None = None  # slot, retained bytes, warning above
        registry.register(self)

    def batch(
        self,
        seconds: float,
        *,
        published: Sequence[str],
        failed: Sequence[str],
        dead: Sequence[str],
    ) -> None:
        self._batch_seconds.observe(seconds)
        self._count(self._published, published)
        self._count(self._failures, failed)
        self._count(self._dead, dead)

    def _count(self, counter: Counter, types: Sequence[str]) -> None:
        for event_type, n in Tally(types).items():
            counter.labels(self._types(event_type)).inc(n)

    def backlog(self, *, pending: int, failed: int, lag_seconds: Mapping[str, float]) -> None:
        self._backlog = _Backlog(pending, failed, dict(lag_seconds), time.time())

    def wal_slot(self, *, slot: str, retained_bytes: int, warn_bytes: int) -> None:
        self._slot = (slot, retained_bytes, warn_bytes)

    def describe(self) -> Iterable[Metric]:
        return ()

    def _slot_gauges(self) -> Iterable[Metric]:
        if self._slot is None:
            return
        slot, retained, warn = self._slot
        kept = GaugeMetricFamily(
            "qulab_outbox_wal_retained_bytes",
            "WAL PostgreSQL keeps for the log-tailing relay's replication slot (bytes from the "
            "slot's restart position to the current one); it grows while no relay reads it.",
            labels=["slot"],
        )
        kept.add_metric([slot], retained)
        yield kept
        limit = GaugeMetricFamily(
            "qulab_outbox_wal_retained_warn_bytes",
            "Retained WAL above which doctor warns (QULAB_RELAY_WAL_WARN_BYTES; 0: never).",
            labels=["slot"],
        )
        limit.add_metric([slot], warn)
        yield limit

    def collect(self) -> Iterable[Metric]:
        yield from self._slot_gauges()
        backlog = self._backlog  # one snapshot: the four gauges always agree
        if backlog is None:
            return
        lag = GaugeMetricFamily(
            "qulab_outbox_lag_seconds",
            "Age of the oldest pending event, by partition ('all' for an unpartitioned outbox); "
            "0 when nothing waits.",
            labels=["partition"],
        )
        for partition, seconds in sorted(backlog.lag_seconds.items()):
            lag.add_metric([partition], seconds)
        yield lag
        yield GaugeMetricFamily(
            "qulab_outbox_pending_events",
            "Events waiting to be published (counting stops at the relay's cap).",
            value=backlog.pending,
        )
        yield GaugeMetricFamily(
            "qulab_outbox_failed_events",
            "Dead-lettered events in the outbox, waiting for a replay (counting stops at the cap).",
            value=backlog.failed,
        )
        yield GaugeMetricFamily(
            "qulab_outbox_backlog_refreshed_timestamp_seconds",
            "When the relay last read the backlog gauges (Unix time): it stops moving while the "
            "database does not answer.",
            value=backlog.read_at,
        )
