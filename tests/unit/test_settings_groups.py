"""The grouped settings are views of the flat ``QULAB_*`` fields: same values, nothing left out."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from qulab.core.config import Settings, load_settings
from qulab.core.errors import ConfigurationError

# group -> (group field, flat field); every flat field must appear here.
GROUPS: dict[str, list[tuple[str, str]]] = {
    "database": [
        ("url", "database_url"),
        ("pool_size", "pool_size"),
        ("max_overflow", "max_overflow"),
        ("pool_timeout", "pool_timeout"),
        ("pool_recycle", "pool_recycle"),
        ("pool_pre_ping", "pool_pre_ping"),
        ("pre_ping_idle_seconds", "db_pre_ping_idle_seconds"),
        ("echo_sql", "echo_sql"),
        ("sqlite_busy_timeout_ms", "sqlite_busy_timeout_ms"),
        ("connect_timeout", "db_connect_timeout"),
        ("statement_timeout", "db_statement_timeout"),
    ],
    "cache": [
        ("redis_url", "redis_url"),
        ("prefix", "cache_prefix"),
        ("user_ttl", "cache_user_ttl"),
        ("score_ttl", "cache_score_ttl"),
        ("ttl_jitter", "cache_ttl_jitter"),
        ("max_entries", "cache_max_entries"),
        ("max_value_bytes", "cache_max_value_bytes"),
        ("negative_ttl", "cache_negative_ttl"),
        ("socket_timeout", "cache_socket_timeout"),
        ("breaker_failure_threshold", "breaker_failure_threshold"),
        ("breaker_reset_seconds", "breaker_reset_seconds"),
    ],
    "broker": [
        ("url", "broker_url"),
        ("stream_prefix", "outbox_stream_prefix"),
        ("stream_maxlen", "outbox_stream_maxlen"),
        ("exchange", "outbox_exchange"),
        ("memory_size", "memory_broker_size"),
        ("publish_timeout", "relay_publish_timeout"),
    ],
    "relay": [
        ("interval", "relay_interval"),
        ("batch_size", "relay_batch_size"),
        ("max_attempts", "relay_max_attempts"),
        ("backoff_base", "relay_backoff_base"),
        ("backoff_max", "relay_backoff_max"),
        ("backoff_jitter", "relay_backoff_jitter"),
        ("publish_timeout", "relay_publish_timeout"),
        ("channel", "outbox_channel"),
        ("lease_seconds", "relay_lease_seconds"),
        ("ordered", "relay_ordered"),
        ("partitions", "outbox_partitions"),
        ("notify", "outbox_notify"),
    ],
    "consumer": [
        ("batch_size", "consumer_batch_size"),
        ("claim_idle", "consumer_claim_idle"),
        ("ack_wait", "consumer_ack_wait"),
        ("wait", "consumer_wait"),
    ],
    "app": [
        ("host", "app_host"),
        ("port", "app_port"),
        ("timeout", "app_timeout"),
        ("metrics_port", "app_metrics_port"),
        ("metrics_host", "app_metrics_host"),
    ],
}

# A value for every variable that differs from its default.
ENVIRONMENT = {
    "QULAB_DATABASE_URL": "postgresql+asyncpg://lab@db.example:5433/qulab",
    "QULAB_REDIS_URL": "redis://cache.example:6380/2",
    "QULAB_BROKER_URL": "amqp://guest:guest@mq.example:5673/",
    "QULAB_POOL_SIZE": "7",
    "QULAB_MAX_OVERFLOW": "3",
    "QULAB_POOL_TIMEOUT": "4.5",
    "QULAB_POOL_RECYCLE": "900",
    "QULAB_POOL_PRE_PING": "false",
    "QULAB_DB_PRE_PING_IDLE_SECONDS": "2.5",
    "QULAB_ECHO_SQL": "true",
    "QULAB_SQLITE_BUSY_TIMEOUT_MS": "1234",
    "QULAB_DB_CONNECT_TIMEOUT": "2.5",
    "QULAB_DB_STATEMENT_TIMEOUT": "12",
    "QULAB_CACHE_PREFIX": "grouped:",
    "QULAB_CACHE_USER_TTL": "61",
    "QULAB_CACHE_SCORE_TTL": "62",
    "QULAB_CACHE_TTL_JITTER": "0.2",
    "QULAB_CACHE_MAX_ENTRIES": "63",
    "QULAB_CACHE_MAX_VALUE_BYTES": "64",
    "QULAB_CACHE_NEGATIVE_TTL": "65",
    "QULAB_CACHE_SOCKET_TIMEOUT": "0.5",
    "QULAB_BREAKER_FAILURE_THRESHOLD": "9",
    "QULAB_BREAKER_RESET_SECONDS": "1.5",
    "QULAB_RELAY_INTERVAL": "0.75",
    "QULAB_RELAY_BATCH_SIZE": "17",
    "QULAB_RELAY_MAX_ATTEMPTS": "8",
    "QULAB_RELAY_BACKOFF_BASE": "0.25",
    "QULAB_RELAY_BACKOFF_MAX": "30",
    "QULAB_RELAY_BACKOFF_JITTER": "0.3",
    "QULAB_RELAY_PUBLISH_TIMEOUT": "6",
    "QULAB_OUTBOX_CHANNEL": "grouped_outbox",
    "QULAB_RELAY_LEASE_SECONDS": "20",
    "QULAB_RELAY_ORDERED": "false",
    "QULAB_OUTBOX_PARTITIONS": "8",
    "QULAB_OUTBOX_NOTIFY": "false",
    "QULAB_OUTBOX_STREAM_PREFIX": "grp:",
    "QULAB_OUTBOX_STREAM_MAXLEN": "500",
    "QULAB_OUTBOX_EXCHANGE": "grouped.outbox",
    "QULAB_MEMORY_BROKER_SIZE": "77",
    "QULAB_CONSUMER_BATCH_SIZE": "18",
    "QULAB_CONSUMER_CLAIM_IDLE": "4.5",
    "QULAB_CONSUMER_ACK_WAIT": "7.5",
    "QULAB_CONSUMER_WAIT": "0.3",
    "QULAB_APP_HOST": "0.0.0.0",
    "QULAB_APP_PORT": "8600",
    "QULAB_APP_TIMEOUT": "15",
    "QULAB_APP_METRICS_PORT": "9108",
    "QULAB_APP_METRICS_HOST": "0.0.0.0",
}


def _pairs() -> list[tuple[str, str, str]]:
    return [(group, name, flat) for group, fields in GROUPS.items() for name, flat in fields]


def test_every_flat_setting_belongs_to_a_group() -> None:
    grouped = {flat for _, _, flat in _pairs()}
    assert grouped == set(Settings.model_fields)
    for group, fields in GROUPS.items():
        view = getattr(Settings(), group)
        assert {f.name for f in dataclasses.fields(view)} == {name for name, _ in fields}


def test_every_variable_of_the_environment_is_exercised() -> None:
    assert set(ENVIRONMENT) == {f"QULAB_{flat.upper()}" for flat in Settings.model_fields}


@pytest.mark.parametrize(("group", "name", "flat"), _pairs())
def test_a_group_reads_the_same_value_as_its_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, group: str, name: str, flat: str
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    for variable, value in ENVIRONMENT.items():
        monkeypatch.setenv(variable, value)
    settings = load_settings()
    default = Settings.model_fields[flat].default
    value = getattr(getattr(settings, group), name)
    assert value == getattr(settings, flat)
    assert value != default  # the variable, not the default, reached the group


def test_groups_are_read_only() -> None:
    settings = Settings().replace(pool_size=4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.database.pool_size = 5  # type: ignore[misc]
    assert settings.database.pool_size == 4


def test_database_group_knows_sqlite() -> None:
    assert Settings().replace(database_url="sqlite+aiosqlite:///:memory:").database.is_sqlite
    assert not Settings().replace(database_url="postgresql+asyncpg://h/db").database.is_sqlite


def test_a_bad_variable_is_still_named_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QULAB_POOL_SIZE", "0")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert str(caught.value).startswith("QULAB_POOL_SIZE: ")
    assert "\n" not in str(caught.value)
