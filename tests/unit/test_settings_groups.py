"""Each setting is declared once, in its group, and read from its unchanged ``QULAB_*`` variable."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from qulab.core.config import Settings, load_settings
from qulab.core.errors import ConfigurationError
from qulab.platform import PlatformCacheSettings

# group -> (field, variable): the variable names users set, which do not change.
GROUPS: dict[str, list[tuple[str, str]]] = {
    "database": [
        ("url", "QULAB_DATABASE_URL"),
        ("pool_size", "QULAB_POOL_SIZE"),
        ("max_overflow", "QULAB_MAX_OVERFLOW"),
        ("pool_timeout", "QULAB_POOL_TIMEOUT"),
        ("pool_recycle", "QULAB_POOL_RECYCLE"),
        ("pool_pre_ping", "QULAB_POOL_PRE_PING"),
        ("pre_ping_idle_seconds", "QULAB_DB_PRE_PING_IDLE_SECONDS"),
        ("echo_sql", "QULAB_ECHO_SQL"),
        ("sqlite_busy_timeout_ms", "QULAB_SQLITE_BUSY_TIMEOUT_MS"),
        ("connect_timeout", "QULAB_DB_CONNECT_TIMEOUT"),
        ("statement_timeout", "QULAB_DB_STATEMENT_TIMEOUT"),
        ("replica_urls", "QULAB_DATABASE_REPLICA_URLS"),
        ("replica_max_lag", "QULAB_REPLICA_MAX_LAG"),
        ("replica_wait_ms", "QULAB_REPLICA_WAIT_MS"),
        ("replica_check_interval", "QULAB_REPLICA_CHECK_INTERVAL"),
    ],
    "cache": [
        ("redis_url", "QULAB_REDIS_URL"),
        ("prefix", "QULAB_CACHE_PREFIX"),
        ("ttl_jitter", "QULAB_CACHE_TTL_JITTER"),
        ("max_entries", "QULAB_CACHE_MAX_ENTRIES"),
        ("max_value_bytes", "QULAB_CACHE_MAX_VALUE_BYTES"),
        ("negative_ttl", "QULAB_CACHE_NEGATIVE_TTL"),
        ("socket_timeout", "QULAB_CACHE_SOCKET_TIMEOUT"),
        ("breaker_failure_threshold", "QULAB_BREAKER_FAILURE_THRESHOLD"),
        ("breaker_reset_seconds", "QULAB_BREAKER_RESET_SECONDS"),
    ],
    "broker": [
        ("url", "QULAB_BROKER_URL"),
        ("stream_prefix", "QULAB_OUTBOX_STREAM_PREFIX"),
        ("stream_maxlen", "QULAB_OUTBOX_STREAM_MAXLEN"),
        ("exchange", "QULAB_OUTBOX_EXCHANGE"),
        ("memory_size", "QULAB_MEMORY_BROKER_SIZE"),
        ("publish_timeout", "QULAB_RELAY_PUBLISH_TIMEOUT"),
        ("event_format", "QULAB_EVENT_FORMAT"),
        ("event_source", "QULAB_EVENT_SOURCE"),
    ],
    "relay": [
        ("interval", "QULAB_RELAY_INTERVAL"),
        ("batch_size", "QULAB_RELAY_BATCH_SIZE"),
        ("max_attempts", "QULAB_RELAY_MAX_ATTEMPTS"),
        ("backoff_base", "QULAB_RELAY_BACKOFF_BASE"),
        ("backoff_max", "QULAB_RELAY_BACKOFF_MAX"),
        ("backoff_jitter", "QULAB_RELAY_BACKOFF_JITTER"),
        ("channel", "QULAB_OUTBOX_CHANNEL"),
        ("lease_seconds", "QULAB_RELAY_LEASE_SECONDS"),
        ("ordered", "QULAB_RELAY_ORDERED"),
        ("partitions", "QULAB_OUTBOX_PARTITIONS"),
        ("notify", "QULAB_OUTBOX_NOTIFY"),
        ("mode", "QULAB_RELAY_MODE"),
        ("slot", "QULAB_RELAY_SLOT"),
        ("wal_warn_bytes", "QULAB_RELAY_WAL_WARN_BYTES"),
    ],
    "consumer": [
        ("batch_size", "QULAB_CONSUMER_BATCH_SIZE"),
        ("claim_idle", "QULAB_CONSUMER_CLAIM_IDLE"),
        ("ack_wait", "QULAB_CONSUMER_ACK_WAIT"),
        ("wait", "QULAB_CONSUMER_WAIT"),
    ],
    "app": [
        ("host", "QULAB_APP_HOST"),
        ("port", "QULAB_APP_PORT"),
        ("timeout", "QULAB_APP_TIMEOUT"),
        ("metrics_port", "QULAB_APP_METRICS_PORT"),
        ("metrics_host", "QULAB_APP_METRICS_HOST"),
    ],
    "log": [
        ("level", "QULAB_LOG_LEVEL"),
        ("format", "QULAB_LOG_FORMAT"),
        ("status_interval", "QULAB_STATUS_INTERVAL"),
    ],
    "tracing": [
        ("exporter", "QULAB_TRACING_EXPORTER"),
        ("endpoint", "QULAB_TRACING_ENDPOINT"),
        ("service_name", "QULAB_TRACING_SERVICE_NAME"),
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
    "QULAB_DATABASE_REPLICA_URLS": "postgresql://lab@standby1.example/qulab, postgres://lab@s2/q",
    "QULAB_REPLICA_MAX_LAG": "2.5",
    "QULAB_REPLICA_WAIT_MS": "50",
    "QULAB_REPLICA_CHECK_INTERVAL": "0.5",
    "QULAB_CACHE_PREFIX": "grouped:",
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
    "QULAB_RELAY_MODE": "wal",
    "QULAB_RELAY_SLOT": "another_slot",
    "QULAB_RELAY_WAL_WARN_BYTES": "2048",
    "QULAB_OUTBOX_STREAM_PREFIX": "grp:",
    "QULAB_OUTBOX_STREAM_MAXLEN": "500",
    "QULAB_OUTBOX_EXCHANGE": "grouped.outbox",
    "QULAB_MEMORY_BROKER_SIZE": "77",
    "QULAB_EVENT_FORMAT": "cloudevents",
    "QULAB_EVENT_SOURCE": "/shop",
    "QULAB_CONSUMER_BATCH_SIZE": "18",
    "QULAB_CONSUMER_CLAIM_IDLE": "4.5",
    "QULAB_CONSUMER_ACK_WAIT": "7.5",
    "QULAB_CONSUMER_WAIT": "0.3",
    "QULAB_APP_HOST": "0.0.0.0",
    "QULAB_APP_PORT": "8600",
    "QULAB_APP_TIMEOUT": "15",
    "QULAB_APP_METRICS_PORT": "9108",
    "QULAB_APP_METRICS_HOST": "0.0.0.0",
    "QULAB_LOG_LEVEL": "DEBUG",
    "QULAB_LOG_FORMAT": "json",
    "QULAB_STATUS_INTERVAL": "5",
    "QULAB_TRACING_EXPORTER": "console",
    "QULAB_TRACING_ENDPOINT": "http://127.0.0.1:4318/v1/traces",
    "QULAB_TRACING_SERVICE_NAME": "shop",
}


# The platform's own group, declared by the platform, read through ``settings.group``.
PLATFORM: dict[str, tuple[str, str]] = {
    "QULAB_CACHE_USER_TTL": ("PlatformCacheSettings", "user_ttl"),
    "QULAB_CACHE_SCORE_TTL": ("PlatformCacheSettings", "score_ttl"),
}


def _places() -> list[tuple[str, str, str]]:
    return [
        (group, name, variable) for group, fields in GROUPS.items() for name, variable in fields
    ]


@pytest.fixture(autouse=True)
def no_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No QULAB_* variable of the caller's environment and no .env of the checkout."""
    for variable in Settings.variables():
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)


def _qulabs() -> dict[str, tuple[str, str]]:
    """The variables of the core's groups and of the platform's (not of tests' own groups)."""
    return {
        variable: place
        for variable, place in Settings.variables().items()
        if variable.startswith("QULAB_")
    }


def test_every_setting_is_declared_once_with_its_variable() -> None:
    declared = {variable: (group, name) for group, name, variable in _places()}
    assert _qulabs() == declared | PLATFORM
    assert len(declared) == len(_places())  # no two settings share a variable
    for group, fields in GROUPS.items():
        assert set(type(getattr(Settings(), group)).model_fields) == {name for name, _ in fields}


def test_every_variable_of_the_environment_is_exercised() -> None:
    assert set(ENVIRONMENT) | set(PLATFORM) == set(_qulabs())


@pytest.mark.parametrize(("group", "name", "variable"), _places())
def test_a_variable_reaches_its_setting_and_no_other(
    monkeypatch: pytest.MonkeyPatch, group: str, name: str, variable: str
) -> None:
    defaults = Settings().model_dump()
    monkeypatch.setenv(variable, ENVIRONMENT[variable])
    settings = load_settings()
    changed = {
        (part, field)
        for part, values in settings.model_dump().items()
        for field, value in values.items()
        if value != defaults[part][field]
    }
    assert changed == {(group, name)}  # the variable, not the default, reached the group
    key = variable.removeprefix("QULAB_").lower()
    assert Settings().replace(**{key: ENVIRONMENT[variable]}) == settings


def test_the_environment_wins_over_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "QULAB_POOL_SIZE=5\nQULAB_CACHE_USER_TTL=61\nQULAB_CACHE_SCORE_TTL=62\n"
    )
    monkeypatch.setenv("QULAB_POOL_SIZE", "6")
    monkeypatch.setenv("QULAB_CACHE_SCORE_TTL", "63")
    settings = load_settings()
    ttl = settings.group(PlatformCacheSettings)
    assert (settings.database.pool_size, ttl.user_ttl, ttl.score_ttl) == (6, 61, 63)


def test_groups_are_read_only() -> None:
    settings = Settings().replace(pool_size=4)
    with pytest.raises(ValidationError, match="frozen"):
        settings.database.pool_size = 5  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        settings.database = settings.database  # type: ignore[misc]
    assert settings.database.pool_size == 4


def test_database_group_knows_sqlite() -> None:
    assert Settings().replace(database_url="sqlite+aiosqlite:///:memory:").database.is_sqlite
    assert not Settings().replace(database_url="postgresql+asyncpg://h/db").database.is_sqlite


def test_a_bad_variable_is_still_named_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QULAB_POOL_SIZE", "0")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert str(caught.value).startswith("QULAB_POOL_SIZE: ")
    assert "\n" not in str(caught.value)


def test_replace_changes_the_named_settings_and_keeps_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QULAB_POOL_SIZE", "7")
    settings = load_settings()
    changed = settings.replace(max_overflow=3, relay_batch_size=9, outbox_channel="other")
    assert (changed.database.pool_size, changed.database.max_overflow) == (7, 3)
    assert (changed.relay.batch_size, changed.relay.channel) == (9, "other")
    assert changed.cache == settings.cache
    assert (settings.database.max_overflow, settings.relay.batch_size) == (20, 100)


def test_replace_does_not_read_the_environment_again(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    monkeypatch.setenv("QULAB_POOL_SIZE", "9")
    assert settings.replace(max_overflow=1).database.pool_size == 10


@pytest.mark.parametrize(
    ("key", "value", "variable"),
    [
        ("pool_size", 0, "QULAB_POOL_SIZE"),
        ("cache_user_ttl", "soon", "QULAB_CACHE_USER_TTL"),
        ("relay_publish_timeout", float("inf"), "QULAB_RELAY_PUBLISH_TIMEOUT"),
        ("redis_url", "http://u:S3cretPW@h/0", "QULAB_REDIS_URL"),
    ],
)
def test_replace_names_the_variable_of_a_bad_value_in_one_line(
    key: str, value: object, variable: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings().replace(**{key: value})
    message = str(caught.value)
    assert message.startswith(f"{variable}: ") and "\n" not in message
    assert "S3cretPW" not in message


def test_replace_refuses_a_setting_that_does_not_exist() -> None:
    with pytest.raises(TypeError, match="QULAB_POOL_SIZES"):
        Settings().replace(pool_sizes=3)


def test_log_level_and_format_take_any_case_and_a_blank_level_is_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QULAB_LOG_LEVEL", " info ")
    monkeypatch.setenv("QULAB_LOG_FORMAT", "JSON")
    assert (load_settings().log.level, load_settings().log.format) == ("INFO", "json")
    monkeypatch.setenv("QULAB_LOG_LEVEL", "")
    assert load_settings().log.level is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("QULAB_LOG_LEVEL", "loud"),
        ("QULAB_LOG_FORMAT", "xml"),
        ("QULAB_STATUS_INTERVAL", "-1"),
    ],
)
def test_a_bad_log_setting_is_named_in_one_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert str(caught.value).startswith(f"{variable}: ")
    assert "\n" not in str(caught.value)


def test_replica_urls_are_a_comma_separated_list_of_postgresql_urls() -> None:
    settings = Settings().replace(database_replica_urls=" postgres://a@s1/q ,, postgresql://s2/q ")
    assert settings.database.replica_urls == (
        "postgresql+asyncpg://a@s1/q",
        "postgresql+asyncpg://s2/q",
    )
    assert Settings().replace(database_replica_urls="").database.replica_urls == ()


def test_a_bad_replica_url_is_named_in_one_line_with_its_password_hidden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QULAB_DATABASE_REPLICA_URLS", "postgresql://s1/q,redis://u:s3cret@s2:1/0")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("QULAB_DATABASE_REPLICA_URLS: ")
    assert "postgresql://" in message and "redis://u:***@s2:1/0" in message
    assert "s3cret" not in message and "\n" not in message


def test_qulab_redis_url_may_name_a_redis_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QULAB_REDIS_URL", "redis+cluster://10.0.0.1:7000,10.0.0.2:7000")
    assert load_settings().cache.redis_url == "redis+cluster://10.0.0.1:7000,10.0.0.2:7000"
    with pytest.raises(ConfigurationError, match=r"QULAB_REDIS_URL: .*only database 0"):
        Settings().replace(redis_url="redis+cluster://10.0.0.1:7000/3")
