from __future__ import annotations

from pathlib import Path

import pytest

from qulab.config import DEFAULT_DATABASE_URL, load_settings
from qulab.errors import ConfigurationError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "BROKER_URL", "POOL_SIZE", "ECHO_SQL"):
        monkeypatch.delenv(f"QULAB_{name}", raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults_are_the_embedded_services() -> None:
    settings = load_settings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.redis_url is None and settings.broker_url is None
    assert (settings.pool_size, settings.max_overflow) == (10, 20)


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QULAB_DATABASE_URL", "postgresql+asyncpg://u@h:5432/d")
    monkeypatch.setenv("QULAB_POOL_SIZE", "3")
    monkeypatch.setenv("QULAB_ECHO_SQL", "true")
    settings = load_settings()
    assert settings.database_url.endswith("/d") and settings.pool_size == 3 and settings.echo_sql


def test_dotenv_file_is_honoured(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "QULAB_REDIS_URL=redis://127.0.0.1:6390/1\nQULAB_MAX_OVERFLOW=7\n"
    )
    settings = load_settings()
    assert settings.redis_url == "redis://127.0.0.1:6390/1" and settings.max_overflow == 7


def test_blank_service_urls_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QULAB_REDIS_URL", "  ")
    assert load_settings().redis_url is None


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
