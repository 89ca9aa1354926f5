"""Typed, read-only views of the settings, one per part of QuLab that consumes them.

The flat ``Settings`` fields keep their ``QULAB_*`` variable names (and their one-line
validation errors); each group here is built from them, so ``settings.database.pool_size`` is
always the value of ``QULAB_POOL_SIZE``. Code that builds a piece reads only its own group.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatabaseSettings:
    """The engine and its pool (``QULAB_DATABASE_URL``, ``QULAB_POOL_*``, ``QULAB_DB_*``)."""

    url: str
    pool_size: int
    max_overflow: int
    pool_timeout: float
    pool_recycle: int
    pool_pre_ping: bool
    pre_ping_idle_seconds: float
    echo_sql: bool
    sqlite_busy_timeout_ms: int
    connect_timeout: float
    statement_timeout: float

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


@dataclass(frozen=True)
class CacheSettings:
    """The read-through cache and its breaker (``QULAB_REDIS_URL``, ``QULAB_CACHE_*``,
    ``QULAB_BREAKER_*``). No ``redis_url`` means the in-process store."""

    redis_url: str | None
    prefix: str
    user_ttl: int
    score_ttl: int
    ttl_jitter: float
    max_entries: int
    max_value_bytes: int
    negative_ttl: int
    socket_timeout: float
    breaker_failure_threshold: int
    breaker_reset_seconds: float


@dataclass(frozen=True)
class BrokerSettings:
    """Where the relay publishes (``QULAB_BROKER_URL``, ``QULAB_OUTBOX_STREAM_*``,
    ``QULAB_OUTBOX_EXCHANGE``, ``QULAB_MEMORY_BROKER_SIZE``). No ``url`` means memory://."""

    url: str | None
    stream_prefix: str
    stream_maxlen: int | None
    exchange: str
    memory_size: int
    publish_timeout: float


@dataclass(frozen=True)
class RelaySettings:
    """How the outbox relay paces, retries and shares the work (``QULAB_RELAY_*``,
    ``QULAB_OUTBOX_CHANNEL``, ``QULAB_OUTBOX_PARTITIONS``, ``QULAB_OUTBOX_NOTIFY``)."""

    interval: float
    batch_size: int
    max_attempts: int
    backoff_base: float
    backoff_max: float
    backoff_jitter: float
    publish_timeout: float
    channel: str
    lease_seconds: float
    ordered: bool
    partitions: int
    notify: bool


@dataclass(frozen=True)
class ConsumerSettings:
    """How ``qulab consume`` reads (``QULAB_CONSUMER_*``): deliveries per batch (and the
    RabbitMQ prefetch), how long a Redis entry stays pending before another member claims it,
    how long JetStream waits for an ack before delivering again, how long a fetch waits."""

    batch_size: int
    claim_idle: float
    ack_wait: float
    wait: float


@dataclass(frozen=True)
class AppSettings:
    """The lab app's server, how long a page waits, and the port of its Prometheus metrics
    (``QULAB_APP_*``; no ``metrics_port`` means no metrics server)."""

    host: str
    port: int
    timeout: float
    metrics_port: int | None
    metrics_host: str
