"""The settings, one group per part of QuLab that consumes them; each setting declared once.

A setting is a field of its group, with its default and its validation. Its environment
variable is the group's ``env_prefix`` followed by the field name, upper-cased
(``QULAB_CACHE_`` + ``ttl_jitter`` is ``QULAB_CACHE_TTL_JITTER``), unless the field names its
variable with ``validation_alias`` (``QULAB_REDIS_URL`` for ``cache.redis_url``): the rule
pydantic-settings applies to a prefix and an alias. ``qulab.core.config.Settings`` holds one of
each of the core's groups and reads them from the environment; code that builds a piece reads
only its group.

An application declares groups of its own the same way (a ``SettingsGroup`` subclass, with a
prefix of its choosing) and reads one with ``settings.group(TheGroup)``. Every group is known
once its class exists: two groups cannot claim one variable.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic.fields import FieldInfo

from qulab.core.urls import address_problem, async_database_url

PREFIX = "QULAB_"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./qulab.db"

_DATABASE_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")
_BROKER_SCHEMES = (
    "memory://",
    "stdout://",
    "redis://",
    "rediss://",
    "redis+cluster://",
    "rediss+cluster://",
    "amqp://",
    "amqps://",
    "nats://",
    "tls://",
)


def _blank_is_unset(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


BlankIsUnset = BeforeValidator(_blank_is_unset)


def _service_url(value: str, schemes: tuple[str, ...], expected: str) -> str:
    """``value`` when it starts with one of ``schemes`` and names a usable address."""
    if not value.startswith(schemes):
        raise ValueError(f"must start with {expected}")
    problem = address_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _variable(prefix: str, name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    return alias if isinstance(alias, str) else f"{prefix}{name}".upper()


class SettingsGroup(BaseModel):
    """A read-only group of settings; a value that is not finite is refused."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", allow_inf_nan=False, validate_by_name=True
    )

    env_prefix: ClassVar[str] = PREFIX

    @classmethod
    def variables(cls) -> dict[str, str]:
        """The environment variable of each field, by field name."""
        return {
            name: _variable(cls.env_prefix, name, field) for name, field in cls.model_fields.items()
        }

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        variables = cls.variables().values()
        for variable in variables:
            owner = DECLARED.get(variable)
            if owner is not None and _name(owner) != _name(cls):  # not a module loaded again
                raise TypeError(f"{_name(cls)} declares {variable}, which {_name(owner)} declares")
        DECLARED.update(dict.fromkeys(variables, cls))


def _name(group: type[SettingsGroup]) -> str:
    return f"{group.__module__}.{group.__qualname__}"


DECLARED: dict[str, type[SettingsGroup]] = {}
"""Every group's variables, to the group that declares it (in the order they were declared)."""


def _comma_separated(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _replica_url(value: str) -> str:
    """A standby's URL: PostgreSQL (an error quotes the one bad element, redacted)."""
    value = async_database_url(value)
    return _service_url(value, _REPLICA_SCHEMES, "postgresql:// (replicas are PostgreSQL standbys)")


_REPLICA_SCHEMES = ("postgresql+asyncpg://",)
ReplicaUrl = Annotated[str, AfterValidator(_replica_url)]


class DatabaseSettings(SettingsGroup):
    """The engine and its pool (``QULAB_DATABASE_URL``, ``QULAB_POOL_*``, ``QULAB_DB_*``), and
    the read replicas (``QULAB_DATABASE_REPLICA_URLS``, ``QULAB_REPLICA_*``; none by default)."""

    url: str = Field(DEFAULT_DATABASE_URL, validation_alias="QULAB_DATABASE_URL")
    pool_size: int = Field(10, ge=1, le=1000)
    max_overflow: int = Field(20, ge=0, le=1000)
    pool_timeout: float = Field(30.0, gt=0)
    pool_recycle: int = Field(1800, ge=-1)
    pool_pre_ping: bool = True
    pre_ping_idle_seconds: float = Field(
        1.0, ge=0, validation_alias="QULAB_DB_PRE_PING_IDLE_SECONDS"
    )
    echo_sql: bool = False
    sqlite_busy_timeout_ms: int = Field(5000, ge=0)
    connect_timeout: float = Field(5.0, gt=0, validation_alias="QULAB_DB_CONNECT_TIMEOUT")
    statement_timeout: float = Field(30.0, ge=0, validation_alias="QULAB_DB_STATEMENT_TIMEOUT")
    replica_urls: Annotated[tuple[ReplicaUrl, ...], BeforeValidator(_comma_separated)] = Field(
        (), validation_alias="QULAB_DATABASE_REPLICA_URLS"
    )
    replica_max_lag: float = Field(5.0, gt=0, validation_alias="QULAB_REPLICA_MAX_LAG")
    replica_wait_ms: int = Field(200, ge=0, le=60_000, validation_alias="QULAB_REPLICA_WAIT_MS")
    replica_check_interval: float = Field(
        1.0, gt=0, le=3600, validation_alias="QULAB_REPLICA_CHECK_INTERVAL"
    )

    @field_validator("url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        value = async_database_url(value)  # postgresql:// and postgres:// imply asyncpg
        return _service_url(value, _DATABASE_SCHEMES, " or ".join(_DATABASE_SCHEMES))

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


class CacheSettings(SettingsGroup):
    """The read-through cache and its breaker (``QULAB_REDIS_URL``, ``QULAB_CACHE_*``,
    ``QULAB_BREAKER_*``). No ``redis_url`` means the in-process store. How long each family's
    entries live is the application's to declare."""

    env_prefix = "QULAB_CACHE_"

    redis_url: Annotated[str | None, BlankIsUnset] = Field(None, validation_alias="QULAB_REDIS_URL")
    prefix: str = Field("qulab:", min_length=1)
    ttl_jitter: float = Field(0.1, ge=0, le=0.5)
    max_entries: int = Field(10_000, ge=1)
    max_value_bytes: int = Field(1_048_576, ge=1)
    negative_ttl: int = Field(0, ge=0)
    socket_timeout: float = Field(0.25, gt=0)
    breaker_failure_threshold: int = Field(
        3, ge=1, validation_alias="QULAB_BREAKER_FAILURE_THRESHOLD"
    )
    breaker_reset_seconds: float = Field(5.0, gt=0, validation_alias="QULAB_BREAKER_RESET_SECONDS")

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _service_url(
            value, _REDIS_SCHEMES, "redis://, rediss://, unix:// or redis+cluster://"
        )


class BrokerSettings(SettingsGroup):
    """Where the relay publishes, and how long a batch may take (``QULAB_BROKER_URL``,
    ``QULAB_OUTBOX_STREAM_*``, ``QULAB_OUTBOX_EXCHANGE``, ``QULAB_MEMORY_BROKER_SIZE``,
    ``QULAB_RELAY_PUBLISH_TIMEOUT``). No ``url`` means memory://."""

    env_prefix = "QULAB_OUTBOX_"

    url: Annotated[str | None, BlankIsUnset] = Field(None, validation_alias="QULAB_BROKER_URL")
    stream_prefix: str = ""
    stream_maxlen: int | None = Field(None, ge=1)
    exchange: str = Field("qulab.outbox", min_length=1, max_length=255)
    memory_size: int = Field(1000, ge=1, le=1_000_000, validation_alias="QULAB_MEMORY_BROKER_SIZE")
    publish_timeout: float = Field(10.0, gt=0, validation_alias="QULAB_RELAY_PUBLISH_TIMEOUT")
    event_format: Literal["qulab", "cloudevents"] = Field(
        "qulab", validation_alias="QULAB_EVENT_FORMAT"
    )
    event_source: str = Field("/qulab", min_length=1, validation_alias="QULAB_EVENT_SOURCE")

    @field_validator("url")
    @classmethod
    def _broker(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _service_url(value, _BROKER_SCHEMES, "one of " + ", ".join(_BROKER_SCHEMES))


class TracingSettings(SettingsGroup):
    """OpenTelemetry traces (``QULAB_TRACING_*``; needs the ``otel`` extra). ``exporter`` none
    leaves tracing off and opentelemetry unimported; ``otlp`` sends spans over OTLP/HTTP to
    ``endpoint`` (or wherever ``OTEL_EXPORTER_OTLP_*`` point); ``console`` prints them."""

    env_prefix = "QULAB_TRACING_"

    exporter: Literal["none", "otlp", "console"] = "none"
    endpoint: Annotated[str | None, BlankIsUnset] = None
    service_name: str = Field("qulab", min_length=1)


class RelaySettings(SettingsGroup):
    """How the outbox relay paces, retries and shares the work (``QULAB_RELAY_*``,
    ``QULAB_OUTBOX_CHANNEL``, ``QULAB_OUTBOX_PARTITIONS``, ``QULAB_OUTBOX_NOTIFY``). ``mode``
    ``wal`` tails PostgreSQL's write-ahead log through the replication slot ``slot`` (and a
    publication of the same name); the slot's retained WAL above ``wal_warn_bytes`` is a
    warning (0: never)."""

    env_prefix = "QULAB_RELAY_"

    interval: float = Field(2.0, gt=0)
    batch_size: int = Field(100, ge=1, le=10_000)
    max_attempts: int = Field(5, ge=1)
    backoff_base: float = Field(0.5, gt=0)
    backoff_max: float = Field(60.0, gt=0)
    backoff_jitter: float = Field(0.5, ge=0, le=1)
    channel: str = Field(
        "qulab_outbox",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        validation_alias="QULAB_OUTBOX_CHANNEL",
    )
    lease_seconds: float = Field(15.0, ge=1, le=3600)
    ordered: bool = True
    partitions: int = Field(16, ge=1, le=4096, validation_alias="QULAB_OUTBOX_PARTITIONS")
    notify: bool = Field(True, validation_alias="QULAB_OUTBOX_NOTIFY")
    mode: Annotated[Literal["polling", "wal"], BeforeValidator(_lower)] = "polling"
    slot: str = Field("qulab_outbox", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    wal_warn_bytes: int = Field(1 << 30, ge=0)


class ConsumerSettings(SettingsGroup):
    """How ``qulab consume run`` reads (``QULAB_CONSUMER_*``): deliveries per batch (and the
    RabbitMQ prefetch), how long a Redis entry stays pending before another member claims it,
    how long JetStream waits for an ack before delivering again, how long a fetch waits."""

    env_prefix = "QULAB_CONSUMER_"

    batch_size: int = Field(100, ge=1, le=10_000)
    claim_idle: float = Field(30.0, gt=0)
    ack_wait: float = Field(30.0, gt=0)
    wait: float = Field(1.0, gt=0, le=60)


class AppSettings(SettingsGroup):
    """The lab app's server, how long a page waits, and the port of its Prometheus metrics
    (``QULAB_APP_*``; no ``metrics_port`` means no metrics server)."""

    env_prefix = "QULAB_APP_"

    host: str = "127.0.0.1"
    port: int = Field(8501, ge=1, le=65535)
    timeout: float = Field(60.0, gt=0)
    metrics_port: Annotated[int | None, BlankIsUnset] = Field(None, ge=1, le=65535)
    metrics_host: str = Field("127.0.0.1", min_length=1)


class LogSettings(SettingsGroup):
    """What a process says while it runs (``QULAB_LOG_LEVEL``, ``QULAB_LOG_FORMAT``,
    ``QULAB_STATUS_INTERVAL``): no ``level`` means WARNING, and INFO from QuLab's own loggers
    in the long-running commands (relay, consumers); a ``status_interval`` of 0 turns their
    status lines off."""

    env_prefix = "QULAB_LOG_"

    level: Annotated[LogLevel | None, BlankIsUnset, BeforeValidator(_upper)] = None
    format: Annotated[Literal["text", "json"], BeforeValidator(_lower)] = "text"
    status_interval: float = Field(30.0, ge=0, le=86_400, validation_alias="QULAB_STATUS_INTERVAL")
