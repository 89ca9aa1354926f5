"""QULAB_DB_CONNECT_TIMEOUT and QULAB_DB_STATEMENT_TIMEOUT reach asyncpg and the server."""

from __future__ import annotations

import pytest

from qulab.core.config import Settings, load_settings
from qulab.core.db import make_engine, postgres_connect_args
from qulab.core.errors import ConfigurationError

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/qulab"


def test_defaults_are_five_seconds_to_connect_and_thirty_per_statement() -> None:
    assert postgres_connect_args(Settings().replace(database_url=PG)) == {
        "timeout": 5.0,
        "command_timeout": 31.0,
        "server_settings": {"statement_timeout": "30000"},
    }


def test_environment_sets_them_and_zero_lifts_the_statement_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QULAB_DB_CONNECT_TIMEOUT", "1.5")
    monkeypatch.setenv("QULAB_DB_STATEMENT_TIMEOUT", "0")
    assert postgres_connect_args(load_settings().replace(database_url=PG)) == {"timeout": 1.5}


@pytest.mark.parametrize(
    ("variable", "value"),
    [("QULAB_DB_CONNECT_TIMEOUT", "0"), ("QULAB_DB_STATEMENT_TIMEOUT", "-1")],
)
def test_a_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=f"^{variable}:"):
        load_settings()


async def test_sqlite_engines_get_no_postgresql_arguments() -> None:
    engine = make_engine(Settings().replace(database_url="sqlite+aiosqlite:///:memory:"))
    try:
        async with engine.connect() as conn:
            assert (await conn.exec_driver_sql("SELECT 1")).scalar() == 1
    finally:
        await engine.dispose()
