"""The command line with ``QULAB_REDIS_URL=redis+cluster://…``: ``qulab user show`` is served
by the cluster, ``qulab cache status|stats`` and ``qulab doctor`` describe it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from qulab.core.config import Settings, get_settings
from qulab.core.db import Database
from qulab.entrypoints.cli import main
from qulab.platform import migrate
from tests.redis_cluster import RedisCluster, delete_cluster_prefix
from tests.service_calls import create_user


@pytest.fixture
def user_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_cluster: RedisCluster
) -> Iterator[str]:
    """A user in a fresh SQLite database, and the environment naming it and the cluster (under
    a prefix of this test's, removed afterwards)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    prefix = f"qulab_test_cli_{tmp_path.name}:"
    monkeypatch.setenv("QULAB_DATABASE_URL", url)
    monkeypatch.setenv("QULAB_REDIS_URL", redis_cluster.url)
    monkeypatch.setenv("QULAB_CACHE_PREFIX", prefix)

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
    asyncio.run(delete_cluster_prefix(redis_cluster.url, prefix))


def qulab(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    get_settings.cache_clear()
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_user_show_is_a_miss_then_a_hit_and_the_statistics_are_shared_on_the_cluster(
    user_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    outcomes = []
    for _ in range(2):
        code, out = qulab(capsys, "user", "show", user_id, "--json")
        assert code == 0
        outcomes.append(orjson.loads(out)["cache"]["user"]["outcome"])
    assert outcomes == ["MISS", "HIT"]

    code, out = qulab(capsys, "cache", "stats", "--json")
    stats = orjson.loads(out)
    assert code == 0
    assert stats["scope"].startswith("shared (redis+cluster://127.0.0.1:")
    user = stats["families"]["user"]
    assert (user["hits"], user["misses"], user["sets"], user["errors"]) == (1, 1, 1, 0)


def test_cache_status_and_doctor_describe_the_cluster(
    user_id: str, redis_cluster: RedisCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = qulab(capsys, "cache", "status", "--json")
    status = orjson.loads(out)
    assert code == 0
    assert (status["address"], status["connected"], status["breaker_state"]) == (
        redis_cluster.url,
        True,
        "closed",
    )
    assert status["server_version"]

    code, out = qulab(capsys, "doctor", "--json")
    checks = {check["component"]: check for check in orjson.loads(out)}
    assert checks["cache"]["status"] == "ok"
    assert checks["cache"]["detail"] == (
        f"Redis {status['server_version']} (cluster_state ok) at {redis_cluster.url}"
    )
