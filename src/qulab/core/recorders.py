"""What the adapters report for metrics: three small protocols, and the no-op recorders used
while metrics are off.

The cache reports each read (key family, outcome, seconds), each backend failure and each
invalidation round; the relay reports each batch (the event types it published, failed to
publish and dead-lettered, and the broker's time) and the backlog it reads between batches; a
consumer reports what it processed, the duplicates it skipped and how far behind it is.

Calls sit on the read and publish paths, so an implementation must be cheap and never raise.
The Prometheus ones live in :mod:`qulab.core.metrics`; nothing here imports a client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

ALL_PARTITIONS = "all"  # the lag label of an outbox that is not partitioned


class CacheRecorder(Protocol):
    def read(self, family: str, outcome: str, seconds: float) -> None:
        """One read-through: ``outcome`` is HIT, MISS or BYPASS (the cache was unavailable)."""
        ...

    def error(self, family: str) -> None:
        """A backend call for a key of ``family`` failed (the breaker counted it too)."""
        ...

    def invalidation(self, keys: int, seconds: float) -> None:
        """One round of invalidations reached the backend."""
        ...


class RelayRecorder(Protocol):
    @property
    def wants_backlog(self) -> bool:
        """False: the relay spares the database the backlog queries."""
        ...

    def batch(
        self,
        seconds: float,
        *,
        published: Sequence[str],
        failed: Sequence[str],
        dead: Sequence[str],
    ) -> None:
        """One batch sent in ``seconds``: the event type of every message published, of every
        one the broker refused or lost (failed), and of those dead-lettered for good."""
        ...

    def backlog(self, *, pending: int, failed: int, lag_seconds: Mapping[str, float]) -> None:
        """The outbox as last read: pending and dead-lettered counts, and per partition the age
        of its oldest pending event (0 when none waits). Partitions not given are gone."""
        ...

    def wal_slot(self, *, slot: str, retained_bytes: int, warn_bytes: int) -> None:
        """The log-tailing relay's slot as last read: the WAL it keeps, and the threshold
        above which that is a warning (0: none)."""
        ...


class ConsumerRecorder(Protocol):
    def processed(self, event_type: str) -> None:
        """An event was applied (its effects and its inbox row committed)."""
        ...

    def duplicate(self, event_type: str) -> None:
        """A redelivered event was skipped: its id was already in the inbox."""
        ...

    def lag(self, seconds: float, source: str = ALL_PARTITIONS) -> None:
        """How far behind the consumer is on ``source``: now minus the last event's time."""
        ...

    def waiting(self, messages: int, source: str = ALL_PARTITIONS) -> None:
        """Messages on ``source`` not yet delivered to the consumer (a stream group's lag)."""
        ...


class NoCacheMetrics:
    def read(self, family: str, outcome: str, seconds: float) -> None:
        return None

    def error(self, family: str) -> None:
        return None

    def invalidation(self, keys: int, seconds: float) -> None:
        return None


class NoRelayMetrics:
    wants_backlog = False

    def batch(
        self,
        seconds: float,
        *,
        published: Sequence[str],
        failed: Sequence[str],
        dead: Sequence[str],
    ) -> None:
        return None

    def backlog(self, *, pending: int, failed: int, lag_seconds: Mapping[str, float]) -> None:
        return None

    def wal_slot(self, *, slot: str, retained_bytes: int, warn_bytes: int) -> None:
        return None


class NoConsumerMetrics:
    def processed(self, event_type: str) -> None:
        return None

    def duplicate(self, event_type: str) -> None:
        return None

    def lag(self, seconds: float, source: str = ALL_PARTITIONS) -> None:
        return None

    def waiting(self, messages: int, source: str = ALL_PARTITIONS) -> None:
        return None


NO_CACHE_METRICS = NoCacheMetrics()
NO_RELAY_METRICS = NoRelayMetrics()
NO_CONSUMER_METRICS = NoConsumerMetrics()
