"""``qulab cache compare``: its JSON and table, its errors, and that it leaves nothing behind."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from sqlalchemy import inspect

from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.lab.strategies import STRATEGY_NAMES
from tests import services
from tests.cache_support import all_keys, new_prefix
from tests.cli.conftest import Invoke

FIELDS = {
    *("strategy", "hit_ratio", "db_loads", "db_loads_per_s", "reads", "writes"),
    *("stale_reads", "max_staleness_ms", "lost_writes", "p50_us", "p95_us", "p99_us"),
    *("stampede_loads", "stampede_readers", "hits", "seconds"),
}


# PostgreSQL runs with Redis (hence the mark), SQLite with the in-process cache.
WITH_REDIS = pytest.param("postgresql", marks=pytest.mark.redis)


@pytest.fixture(params=["sqlite", WITH_REDIS])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def redis_prefix(
    backend: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> str | None:
    """PostgreSQL runs with Redis under a prefix of its own, SQLite with the in-process cache."""
    if backend != "postgresql":
        monkeypatch.delenv("QULAB_REDIS_URL", raising=False)
        return None
    redis_url = str(request.getfixturevalue("redis_url"))
    prefix = new_prefix()
    monkeypatch.setenv("QULAB_REDIS_URL", redis_url)
    monkeypatch.setenv("QULAB_CACHE_PREFIX", prefix)
    return prefix


def _tables(url: str) -> list[str]:
    async def _go() -> list[str]:
        db = Database(Settings().replace(database_url=url))
        try:
            async with db.engine.connect() as conn:
                return await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        finally:
            await db.dispose()

    return asyncio.run(_go())


def test_json_has_one_object_per_strategy_and_nothing_is_left_behind(
    qulab: Invoke, database_url: str, redis_prefix: str | None
) -> None:
    tables_before = _tables(database_url)
    result = qulab(
        *("cache", "compare", "--ops", "200", "--keys", "10", "--concurrency", "4"),
        *("--stampede-readers", "20", "--json"),
    )
    assert result.code == 0, result.err
    data = orjson.loads(result.out)
    assert [row["strategy"] for row in data] == list(STRATEGY_NAMES)
    for row in data:
        assert set(row) >= FIELDS
        assert row["reads"] + row["writes"] == 200
        assert row["stampede_readers"] == 20
    by_name = {row["strategy"]: row for row in data}
    assert by_name["ttl-only"]["stale_reads"] > 0
    assert by_name["invalidate"]["stale_reads"] == 0
    assert by_name["invalidate"]["stampede_loads"] == 1
    if redis_prefix is None:  # in process every reader misses before any load ends
        assert by_name["ttl-only"]["stampede_loads"] == 20
    else:  # on Redis a reader queued behind the first fill may already find it
        assert by_name["ttl-only"]["stampede_loads"] >= 1
    assert _tables(database_url) == tables_before
    if redis_prefix is not None:
        assert [
            key for key in asyncio.run(all_keys(services.REDIS_URL)) if key.startswith(redis_prefix)
        ] == []


def test_the_table_names_each_strategy_and_says_what_the_columns_mean(
    qulab: Invoke, redis_prefix: str | None
) -> None:
    result = qulab(
        *("cache", "compare", "--strategies", "write-behind,ttl-only", "--ops", "100"),
        *("--keys", "5", "--zipf", "1.2", "--read-ratio", "0.5", "--seed", "9"),
    )
    assert result.code == 0, result.err
    assert "5 keys, zipf 1.2, 50% reads, 100 ops x 16 tasks, ttl 30s, seed 9" in result.out
    lines = result.out.splitlines()
    assert [line.split()[0] for line in lines[2:4]] == ["write-behind", "ttl-only"]
    assert "lost: writes acknowledged but never in the database" in result.out


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--zipf", "-1"), "error: --zipf: must be between 0 and 3, got -1\n"),
        (("--read-ratio", "2"), "error: --read-ratio: must be between 0 and 1, got 2\n"),
        (("--strategies", "lru"), "error: --strategies: unknown lru; known: ttl-only, "),
        (("--ops", "0"), "error: --ops: must be between 1 and 1e+06, got 0\n"),
    ],
)
def test_a_bad_option_is_one_line_and_exit_2(
    qulab: Invoke, database_url: str, args: tuple[str, ...], message: str
) -> None:
    result = qulab("cache", "compare", *args)
    assert (result.code, result.out) == (2, "")
    assert result.err.startswith(message) and result.err.count("\n") == 1
    assert _tables(database_url) == []


@pytest.mark.parametrize("backend", ["sqlite"])
def test_redis_down_is_one_line_exit_1_and_creates_nothing(
    qulab: Invoke, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QULAB_REDIS_URL", f"redis://127.0.0.1:{services.free_port()}/0")
    result = qulab("cache", "compare", "--ops", "10", "--json")
    assert (result.code, result.out) == (1, "")
    assert result.err.startswith("error: redis redis://127.0.0.1:") and result.err.count("\n") == 1
    assert _tables(database_url) == []
