"""``qulab user show`` reports HIT/MISS; ``qulab cache status|stats|invalidate``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis
from sqlalchemy import select

from qulab.core.config import Settings, get_settings
from qulab.core.db import Database
from qulab.entrypoints.cli import main
from qulab.platform import migrate
from qulab.platform.models import User
from qulab.platform.services import seeding
from tests import services
from tests.cache_support import delete_prefix, new_prefix
from tests.service_calls import create_user


@pytest.fixture
def user_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("QULAB_DATABASE_URL", url)
    monkeypatch.delenv("QULAB_REDIS_URL", raising=False)

    async def _prepare() -> str:
        db = Database(Settings().replace(database_url=url))
        try:
            await migrate.upgrade(db)
            return (await create_user(db, email="cli@example.com", name="Cli")).id
        finally:
            await db.dispose()

    get_settings.cache_clear()
    yield asyncio.run(_prepare())
    get_settings.cache_clear()


@pytest.fixture
def redis_prefix(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> Iterator[str]:
    prefix = new_prefix()
    monkeypatch.setenv("QULAB_REDIS_URL", redis_url)
    monkeypatch.setenv("QULAB_CACHE_PREFIX", prefix)
    get_settings.cache_clear()
    yield prefix
    asyncio.run(delete_prefix(redis_url, prefix))


def qulab(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    get_settings.cache_clear()
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_user_show_says_miss_then_hit_with_redis_and_miss_after_an_update(
    user_id: str, redis_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, first = qulab(capsys, "user", "show", user_id)
    assert code == 0 and "user: cache MISS in" in first
    code, second = qulab(capsys, "user", "show", user_id, "--json")
    shown = orjson.loads(second)
    assert shown["cache"]["user"]["outcome"] == "HIT"
    assert shown["user"]["name"] == "Cli"

    assert qulab(capsys, "user", "update", user_id, "--name", "Cli Two")[0] == 0
    code, third = qulab(capsys, "user", "show", user_id, "--json")
    shown = orjson.loads(third)
    assert (shown["cache"]["user"]["outcome"], shown["user"]["name"]) == ("MISS", "Cli Two")

    code, stats = qulab(capsys, "cache", "stats", "--json")
    data = orjson.loads(stats)
    assert data["scope"].startswith("shared")
    user_stats = data["families"]["user"]
    assert (user_stats["hits"], user_stats["misses"], user_stats["invalidations"]) == (1, 2, 1)


def test_cache_invalidate_makes_the_next_show_a_miss(
    user_id: str, redis_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    qulab(capsys, "user", "show", user_id)
    code, out = qulab(capsys, "cache", "invalidate", user_id)
    assert code == 0 and f"{redis_prefix}user:{user_id}" in out
    _, shown = qulab(capsys, "user", "show", user_id, "--json")
    assert orjson.loads(shown)["cache"]["user"]["outcome"] == "MISS"


def test_cache_status_describes_redis(
    user_id: str, redis_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = qulab(capsys, "cache", "status", "--json")
    status = orjson.loads(out)
    assert code == 0
    assert (status["backend"], status["connected"], status["breaker_state"]) == (
        "redis",
        True,
        "closed",
    )
    assert status["server_version"] and status["prefix"] == redis_prefix


def test_in_process_cache_says_its_statistics_cover_one_command(
    user_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, shown = qulab(capsys, "user", "show", user_id, "--json")
    assert orjson.loads(shown)["cache"]["user"]["outcome"] == "MISS"
    code, out = qulab(capsys, "cache", "stats")
    assert code == 0 and "this process only" in out and "QULAB_REDIS_URL" in out
    code, out = qulab(capsys, "cache", "status", "--json")
    assert orjson.loads(out)["backend"] == "memory"


def test_unreachable_redis_still_shows_the_user_and_invalidate_fails_clearly(
    user_id: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QULAB_REDIS_URL", f"redis://127.0.0.1:{services.free_port()}/0")
    _, shown = qulab(capsys, "user", "show", user_id, "--json")
    data = orjson.loads(shown)
    assert (data["cache"]["user"]["outcome"], data["user"]["name"]) == ("BYPASS", "Cli")
    get_settings.cache_clear()
    assert main(["cache", "invalidate", user_id]) == 1
    assert "error: cache unreachable" in capsys.readouterr().err


def test_cache_invalidate_rejects_a_malformed_id(
    user_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = qulab(capsys, "cache", "invalidate", "nope")
    assert code == 2


def test_a_hash_at_the_users_key_is_a_miss_counted_as_wrong_type(
    user_id: str, redis_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async def _plant() -> None:
        client = aioredis.from_url(services.REDIS_URL)
        try:
            await client.hset(f"{redis_prefix}user:{user_id}", mapping={"foreign": "hash"})
        finally:
            await client.aclose()

    asyncio.run(_plant())
    code, shown = qulab(capsys, "user", "show", user_id, "--json")
    data = orjson.loads(shown)
    assert (code, data["cache"]["user"]["outcome"], data["user"]["name"]) == (0, "MISS", "Cli")
    _, again = qulab(capsys, "user", "show", user_id, "--json")
    assert orjson.loads(again)["cache"]["user"]["outcome"] == "HIT"

    code, out = qulab(capsys, "cache", "stats")
    cells = [line.split() for line in out.splitlines()]
    user_column = {row[0]: row[1] for row in cells if len(row) == 3}
    assert code == 0
    assert [user_column[name] for name in ("wrong_type", "errors", "oversize")] == ["1", "0", "0"]


def test_values_above_qulab_cache_max_value_bytes_are_not_cached(
    user_id: str,
    redis_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("QULAB_CACHE_MAX_VALUE_BYTES", "64")
    outcomes = [
        orjson.loads(qulab(capsys, "user", "show", user_id, "--json")[1])["cache"]["user"]
        for _ in range(2)
    ]
    assert [outcome["outcome"] for outcome in outcomes] == ["MISS", "MISS"]
    stats = orjson.loads(qulab(capsys, "cache", "stats", "--json")[1])["families"]["user"]
    assert (stats["too_large"], stats["sets"]) == (2, 0)


def test_seed_clear_drops_the_seeded_users_from_the_redis_cache(
    user_id: str, redis_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert qulab(capsys, "seed", "--users", "2", "--scores", "1", "--marker", "clicache")[0] == 0

    async def _seeded() -> list[str]:
        db = Database(get_settings())
        try:
            async with db.session() as session:
                where = seeding.seeded_users("clicache")
                return list((await session.execute(select(User.id).where(where))).scalars())
        finally:
            await db.dispose()

    seeded = asyncio.run(_seeded())
    for ident in [*seeded, user_id]:
        assert "user: cache MISS in" in qulab(capsys, "user", "show", ident)[1]
        assert "user: cache HIT in" in qulab(capsys, "user", "show", ident)[1]

    code, out = qulab(capsys, "seed", "--clear", "--marker", "clicache", "--yes")
    assert (code, out.strip()) == (0, "removed 2 seeded users (marker clicache)")

    for ident in seeded:
        capsys.readouterr()
        assert main(["user", "show", ident]) == 2
        assert capsys.readouterr().err.strip() == f"error: user {ident} not found"
    assert "user: cache HIT in" in qulab(capsys, "user", "show", user_id)[1]


async def _generation_ttls(prefix: str) -> dict[str, float]:
    """Every generation key under ``prefix`` with its remaining time to live in seconds."""
    client = aioredis.Redis.from_url(services.REDIS_URL, decode_responses=True)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}gen:*", count=500)]
        return {key: await client.pttl(key) / 1000 for key in keys}
    finally:
        await client.aclose()


def test_seed_clear_and_user_delete_leave_no_generation_keys_for_a_day(
    user_id: str,
    redis_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("QULAB_CACHE_USER_TTL", "600")
    monkeypatch.setenv("QULAB_CACHE_SCORE_TTL", "120")
    assert qulab(capsys, "seed", "--users", "3", "--scores", "1", "--marker", "gens")[0] == 0
    assert qulab(capsys, "user", "update", user_id, "--name", "Kept")[0] == 0  # a day: stays
    kept = {f"{redis_prefix}gen:user:{user_id}", f"{redis_prefix}gen:latest_airscore:{user_id}"}

    assert qulab(capsys, "seed", "--clear", "--marker", "gens", "--yes")[0] == 0
    assert qulab(capsys, "user", "delete", user_id, "--yes")[0] == 0

    ttls = asyncio.run(_generation_ttls(redis_prefix))
    assert len(ttls) == 2 * 4  # two families, three seeded users and one deleted
    for key, ttl in ttls.items():
        family_ttl = 600 if key.startswith(f"{redis_prefix}gen:user:") else 120
        assert 0 < ttl <= family_ttl * 1.1, (key, ttl)  # gone with the entries they guard
    assert kept <= set(ttls)  # the update's day-long generations were shortened by the delete
