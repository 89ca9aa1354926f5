"""Consumer metrics: what a consumer applied, the duplicates it skipped and how far behind it
is. A consumer process starts them with :func:`qulab.core.metrics.serve_consumer_metrics`."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from qulab.core.events import EVENT_TYPES
from qulab.core.metrics.labels import BoundedLabels
from qulab.core.recorders import ALL_PARTITIONS


class ConsumerFamilies:
    """The consumer metric families of one registry, shared by every consumer it serves."""

    def __init__(self, registry: CollectorRegistry, max_event_types: int) -> None:
        self.types = BoundedLabels(max_event_types, known=tuple(EVENT_TYPES))
        self.processed = Counter(
            "qulab_consumer_processed",
            "Events a consumer applied (effects and inbox row committed), by event type.",
            ["consumer", "event_type"],
            registry=registry,
        )
        self.duplicates = Counter(
            "qulab_consumer_duplicates_skipped",
            "Redelivered events a consumer skipped because its inbox already held their id.",
            ["consumer", "event_type"],
            registry=registry,
        )
        self.lag_seconds = Gauge(
            "qulab_consumer_lag_seconds",
            "How far behind a consumer is: now minus the time of the last event it applied.",
            ["consumer", "source"],
            registry=registry,
        )
        self.lag_messages = Gauge(
            "qulab_consumer_lag_messages",
            "Messages on a source not yet delivered to the consumer (a stream group's lag).",
            ["consumer", "source"],
            registry=registry,
        )


class ConsumerMetrics:
    """One consumer's recorder (see :class:`qulab.core.recorders.ConsumerRecorder`)."""

    def __init__(self, families: ConsumerFamilies, consumer: str) -> None:
        self._families = families
        self.consumer = consumer

    def processed(self, event_type: str) -> None:
        families = self._families
        families.processed.labels(self.consumer, families.types(event_type)).inc()

    def duplicate(self, event_type: str) -> None:
        families = self._families
        families.duplicates.labels(self.consumer, families.types(event_type)).inc()

    def lag(self, seconds: float, source: str = ALL_PARTITIONS) -> None:
        self._families.lag_seconds.labels(self.consumer, source).set(max(seconds, 0.0))

    def waiting(self, messages: int, source: str = ALL_PARTITIONS) -> None:
        self._families.lag_messages.labels(self.consumer, source).set(messages)
