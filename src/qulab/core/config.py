"""Settings read from the environment (prefix ``QULAB_``) and an optional ``.env`` file.

``Settings()`` reads them; ``settings.replace(database_url=..., pool_size=2)`` is a validated copy
with some changed, each named as its variable without ``QULAB_``. Code and tests build settings
with overrides that one way: ``Settings().replace(...)``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from qulab.core.errors import ConfigurationError
from qulab.core.settings_groups import (
    AppSettings,
    BrokerSettings,
    CacheSettings,
    ConsumerSettings,
    DatabaseSettings,
    RelaySettings,
)
from qulab.core.urls import address_problem, redact_url

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./qulab.db"


class Settings(BaseSettings):
    """Everything QuLab can be configured with. Unset services fall back to embedded ones."""

    model_config = SettingsConfigDict(
        env_prefix="QULAB_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        allow_inf_nan=False,
    )

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    broker_url: str | None = None

    pool_size: int = Field(default=10, ge=1, le=1000)
    max_overflow: int = Field(default=20, ge=0, le=1000)
    pool_timeout: float = Field(default=30.0, gt=0)
    pool_recycle: int = Field(default=1800, ge=-1)
    pool_pre_ping: bool = True
    db_pre_ping_idle_seconds: float = Field(default=1.0, ge=0)
    echo_sql: bool = False
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)
    db_connect_timeout: float = Field(default=5.0, gt=0)
    db_statement_timeout: float = Field(default=30.0, ge=0)

    cache_prefix: str = Field(default="qulab:", min_length=1)
    cache_user_ttl: int = Field(default=3600, ge=1)
    cache_score_ttl: int = Field(default=300, ge=1)
    cache_ttl_jitter: float = Field(default=0.1, ge=0, le=0.5)
    cache_max_entries: int = Field(default=10_000, ge=1)
    cache_max_value_bytes: int = Field(default=1_048_576, ge=1)
    cache_negative_ttl: int = Field(default=0, ge=0)
    cache_socket_timeout: float = Field(default=0.25, gt=0)
    breaker_failure_threshold: int = Field(default=3, ge=1)
    breaker_reset_seconds: float = Field(default=5.0, gt=0)

    relay_interval: float = Field(default=2.0, gt=0)
    relay_batch_size: int = Field(default=100, ge=1, le=10_000)
    relay_max_attempts: int = Field(default=5, ge=1)
    relay_backoff_base: float = Field(default=0.5, gt=0)
    relay_backoff_max: float = Field(default=60.0, gt=0)
    relay_backoff_jitter: float = Field(default=0.5, ge=0, le=1)
    relay_publish_timeout: float = Field(default=10.0, gt=0)
    relay_lease_seconds: float = Field(default=15.0, ge=1, le=3600)
    relay_ordered: bool = True
    outbox_partitions: int = Field(default=16, ge=1, le=4096)
    outbox_notify: bool = True
    outbox_channel: str = Field(default="qulab_outbox", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    outbox_stream_prefix: str = ""
    outbox_stream_maxlen: int | None = Field(default=None, ge=1)
    outbox_exchange: str = Field(default="qulab.outbox", min_length=1, max_length=255)
    memory_broker_size: int = Field(default=1000, ge=1, le=1_000_000)

    consumer_batch_size: int = Field(default=100, ge=1, le=10_000)
    consumer_claim_idle: float = Field(default=30.0, gt=0)
    consumer_ack_wait: float = Field(default=30.0, gt=0)
    consumer_wait: float = Field(default=1.0, gt=0, le=60)

    app_host: str = "127.0.0.1"
    app_port: int = Field(default=8501, ge=1, le=65535)
    app_timeout: float = Field(default=60.0, gt=0)
    app_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    app_metrics_host: str = Field(default="127.0.0.1", min_length=1)

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        allowed = ("sqlite+aiosqlite://", "postgresql+asyncpg://")
        if not value.startswith(allowed):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("redis_url", "broker_url", "app_metrics_port", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("broker_url")
    @classmethod
    def _broker_scheme(cls, value: str | None) -> str | None:
        schemes = (
            "memory://",
            "stdout://",
            "redis://",
            "rediss://",
            "amqp://",
            "amqps://",
            "nats://",
            "tls://",
        )
        if value is not None and not value.startswith(schemes):
            raise ValueError("must start with one of " + ", ".join(schemes))
        return value

    @field_validator("database_url", "redis_url", "broker_url")
    @classmethod
    def _usable_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        problem = address_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied, each keyed by its variable without ``QULAB_``
        (``pool_size=2`` sets ``QULAB_POOL_SIZE``); raises ConfigurationError naming the
        variable of a bad value, TypeError for a setting that does not exist."""
        unknown = sorted(set(changes) - set(type(self).model_fields))
        if unknown:
            raise TypeError(f"no setting QULAB_{unknown[0].upper()}")
        try:
            return type(self).model_validate(self.model_dump() | changes)
        except ValidationError as exc:
            raise _one_line(exc) from None

    # Grouped, read-only views of the fields above (see qulab.core.settings_groups).

    @property
    def database(self) -> DatabaseSettings:
        return DatabaseSettings(
            url=self.database_url,
            pool_size=self.pool_size,
            max_overflow=self.max_overflow,
            pool_timeout=self.pool_timeout,
            pool_recycle=self.pool_recycle,
            pool_pre_ping=self.pool_pre_ping,
            pre_ping_idle_seconds=self.db_pre_ping_idle_seconds,
            echo_sql=self.echo_sql,
            sqlite_busy_timeout_ms=self.sqlite_busy_timeout_ms,
            connect_timeout=self.db_connect_timeout,
            statement_timeout=self.db_statement_timeout,
        )

    @property
    def cache(self) -> CacheSettings:
        return CacheSettings(
            redis_url=self.redis_url,
            prefix=self.cache_prefix,
            user_ttl=self.cache_user_ttl,
            score_ttl=self.cache_score_ttl,
            ttl_jitter=self.cache_ttl_jitter,
            max_entries=self.cache_max_entries,
            max_value_bytes=self.cache_max_value_bytes,
            negative_ttl=self.cache_negative_ttl,
            socket_timeout=self.cache_socket_timeout,
            breaker_failure_threshold=self.breaker_failure_threshold,
            breaker_reset_seconds=self.breaker_reset_seconds,
        )

    @property
    def broker(self) -> BrokerSettings:
        return BrokerSettings(
            url=self.broker_url,
            stream_prefix=self.outbox_stream_prefix,
            stream_maxlen=self.outbox_stream_maxlen,
            exchange=self.outbox_exchange,
            memory_size=self.memory_broker_size,
            publish_timeout=self.relay_publish_timeout,
        )

    @property
    def relay(self) -> RelaySettings:
        return RelaySettings(
            interval=self.relay_interval,
            batch_size=self.relay_batch_size,
            max_attempts=self.relay_max_attempts,
            backoff_base=self.relay_backoff_base,
            backoff_max=self.relay_backoff_max,
            backoff_jitter=self.relay_backoff_jitter,
            publish_timeout=self.relay_publish_timeout,
            channel=self.outbox_channel,
            lease_seconds=self.relay_lease_seconds,
            ordered=self.relay_ordered,
            partitions=self.outbox_partitions,
            notify=self.outbox_notify,
        )

    @property
    def consumer(self) -> ConsumerSettings:
        return ConsumerSettings(
            batch_size=self.consumer_batch_size,
            claim_idle=self.consumer_claim_idle,
            ack_wait=self.consumer_ack_wait,
            wait=self.consumer_wait,
        )

    @property
    def app(self) -> AppSettings:
        return AppSettings(
            host=self.app_host,
            port=self.app_port,
            timeout=self.app_timeout,
            metrics_port=self.app_metrics_port,
            metrics_host=self.app_metrics_host,
        )


def _one_line(exc: ValidationError) -> ConfigurationError:
    """The first problem of ``exc`` as one line naming its variable, passwords hidden."""
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "?"
    given = first.get("input")
    shown = redact_url(given) if isinstance(given, str) else given
    return ConfigurationError(f"QULAB_{field.upper()}: {first['msg']} (got {shown!r})")


def load_settings() -> Settings:
    """Read the settings, turning a validation failure into one line naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        raise _one_line(exc) from None
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f".env: not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
