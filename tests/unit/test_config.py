from __future__ import annotations

from pathlib import Path

import pytest

from qulab.core.config import DEFAULT_DATABASE_URL, Settings, load_settings
from qulab.core.errors import ConfigurationError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "BROKER_URL", "POOL_SIZE", "ECHO_SQL"):
        monkeypatch.delenv(f"QULAB_{name}", raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults_are_the_embedded_services() -> None:
    settings = load_settings()
    assert settings.database.url == DEFAULT_DATABASE_URL
    assert settings.cache.redis_url is None and settings.broker.url is None
    assert (settings.database.pool_size, settings.database.max_overflow) == (10, 20)


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QULAB_DATABASE_URL", "postgresql+asyncpg://u@h:5432/d")
    monkeypatch.setenv("QULAB_POOL_SIZE", "3")
    monkeypatch.setenv("QULAB_ECHO_SQL", "true")
    settings = load_settings()
    assert (
        settings.database.url.endswith("/d")
        and settings.database.pool_size == 3
        and settings.database.echo_sql
    )


def test_dotenv_file_is_honoured(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "QULAB_REDIS_URL=redis://127.0.0.1:6390/1\nQULAB_MAX_OVERFLOW=7\n"
    )
    settings = load_settings()
    assert (
        settings.cache.redis_url == "redis://127.0.0.1:6390/1"
        and settings.database.max_overflow == 7
    )


def test_blank_service_urls_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QULAB_REDIS_URL", "  ")
    assert load_settings().cache.redis_url is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("POOL_SIZE", "abc"),
        ("POOL_SIZE", "0"),
        ("MAX_OVERFLOW", "-1"),
        ("DATABASE_URL", "mysql://x"),
        ("REDIS_URL", "http://localhost"),
        ("BROKER_URL", "kafka://x"),
        ("ECHO_SQL", "perhaps"),
    ],
)
def test_invalid_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(f"QULAB_{name}", value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"QULAB_{name}:")
    assert "\n" not in message


PASSWORD = "S3cretPW"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", f"mysql://u:{PASSWORD}@h/x"),
        ("REDIS_URL", f"http://u:{PASSWORD}@h/0"),
        ("BROKER_URL", f"kafka://u:{PASSWORD}@h/x"),
        ("DATABASE_URL", f"postgresql+asyncpg://u:{PASSWORD}@h:abc/x"),
        ("REDIS_URL", f"redis://u:{PASSWORD}@h:6379/abc"),
        ("BROKER_URL", f"amqp://u:{PASSWORD}@h:70000/"),
    ],
)
def test_invalid_url_is_echoed_with_its_password_hidden(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(f"QULAB_{name}", value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"QULAB_{name}:") and "\n" not in message
    assert PASSWORD not in message
    assert "u:***@h" in message


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("DATABASE_URL", "postgresql+asyncpg://u@127.0.0.1:5x32/x", "the port must be a number"),
        ("REDIS_URL", "redis://127.0.0.1:six/0", "the port must be a number"),
        ("BROKER_URL", "amqp://guest:guest@127.0.0.1:port/", "the port must be a number"),
        ("BROKER_URL", "redis://127.0.0.1:0/0", "the port must be between 1 and 65535"),
        ("REDIS_URL", "redis://127.0.0.1:6379/zero", "the Redis database must be a whole number"),
        ("REDIS_URL", "redis://127.0.0.1:6379?db=1.5", "the Redis database (db=) must be a whole"),
        ("BROKER_URL", "redis://127.0.0.1:6379/x", "the Redis database must be a whole number"),
        ("CACHE_PREFIX", "", "at least 1 character"),
    ],
)
def test_unusable_address_or_empty_prefix_is_one_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(f"QULAB_{name}", value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"QULAB_{name}:") and problem in message and "\n" not in message


def _annotation(group: str, name: str) -> object:
    model = Settings.model_fields[group].annotation
    assert model is not None
    return model.model_fields[name].annotation


# Each float setting by its variable without QULAB_, lower-cased (``pool_timeout``).
FLOAT_SETTINGS = sorted(
    variable.removeprefix("QULAB_").lower()
    for variable, (group, name) in Settings.variables().items()
    if group in Settings.model_fields and _annotation(group, name) in (float, float | None)
)


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "Infinity"])
@pytest.mark.parametrize("name", FLOAT_SETTINGS)
def test_every_float_setting_refuses_infinity_and_nan(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(f"QULAB_{name.upper()}", value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert str(caught.value).startswith(f"QULAB_{name.upper()}:")


def test_the_float_settings_are_found() -> None:
    assert {"pool_timeout", "cache_ttl_jitter", "relay_interval"} <= set(FLOAT_SETTINGS)


def test_dotenv_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"QULAB_POOL_SIZE=5\nQULAB_CACHE_PREFIX=caf\xe9:\n")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert str(caught.value) == ".env: not UTF-8 text (byte 40); save it as UTF-8"
