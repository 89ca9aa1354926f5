"""Cache and pool metrics after real reads: hits, misses and bypasses by key family on Redis and
on the in-process cache, the breaker's state during an outage, and the pool's checkouts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from qulab.core.cache import Cache, CircuitBreaker, RedisBackend
from qulab.core.db import Database
from qulab.core.metrics import Metrics
from qulab.core.recorders import NoCacheMetrics
from qulab.lab import create_sample_airscore
from qulab.platform.cache import invalidate_user, read_latest_score_cached, read_user_cached
from tests.cache_support import FAMILIES, RedisServer, make_cache, new_prefix, subscribed_cache
from tests.metrics_support import read_registry
from tests.service_calls import create_user, update_user


@pytest.fixture(params=["redis", "memory"])
async def watched(request: pytest.FixtureRequest, db: Database) -> AsyncIterator[Metrics]:
    """Metrics of their own registry watching ``db`` and a cache subscribed to its bus."""
    if request.param == "redis":
        request.getfixturevalue("redis_url")
    async with subscribed_cache(str(request.param), db) as cache:
        metrics = Metrics()
        metrics.watch(db=db, cache=cache)
        yield metrics


async def test_reads_are_counted_by_family_and_outcome(watched: Metrics, db: Database) -> None:
    cache = watched.watched_cache
    assert cache is not None
    user = await create_user(db, email="metrics@example.com", name="Metrics")
    await create_sample_airscore(user.id, db=db)
    for _ in range(3):
        await read_user_cached(db, cache, user.id)  # a miss, then hits
    await read_latest_score_cached(db, cache, user.id)
    rounds = read_registry(watched.registry).value("qulab_cache_invalidation_seconds_count")
    await update_user(db, user.id, name="Renamed")  # invalidates both entries after commit
    await read_user_cached(db, cache, user.id)

    seen = read_registry(watched.registry)
    assert seen.value("qulab_cache_reads_total", family="user", outcome="miss") == 2
    assert seen.value("qulab_cache_reads_total", family="user", outcome="hit") == 2
    assert seen.value("qulab_cache_reads_total", family="latest_airscore", outcome="miss") == 1
    assert seen.value("qulab_cache_reads_total", family="latest_airscore", outcome="hit") == 0
    assert seen.value("qulab_cache_reads_total", family="user", outcome="bypass") == 0
    assert seen.value("qulab_cache_read_seconds_count", family="user", outcome="hit") == 2
    hit_time = seen.value("qulab_cache_read_seconds_sum", family="user", outcome="hit")
    assert hit_time is not None and hit_time > 0
    assert seen.value("qulab_cache_invalidation_seconds_count") == (rounds or 0) + 1
    assert seen.value("qulab_cache_breaker_state", state="closed") == 1
    assert seen.value("qulab_cache_breaker_state", state="open") == 0
    assert seen.value("qulab_cache_deferred_invalidations") == 0


async def test_an_outage_shows_as_bypasses_errors_and_an_open_breaker(
    redis_server: RedisServer, db: Database
) -> None:
    cache = Cache(
        RedisBackend(redis_server.url, socket_timeout=0.5),
        prefix=new_prefix(),
        breaker=CircuitBreaker("test cache", failure_threshold=2, reset_seconds=60),
        families=FAMILIES,
    )
    metrics = Metrics()
    metrics.watch(cache=cache)
    user = await create_user(db, email="outage@example.com", name="Outage")
    try:
        await read_user_cached(db, cache, user.id)
        redis_server.stop()
        for _ in range(3):
            assert (await read_user_cached(db, cache, user.id)).outcome == "BYPASS"
        await invalidate_user(cache, user.id)
        seen = read_registry(metrics.registry)
    finally:
        await cache.close()

    assert seen.value("qulab_cache_reads_total", family="user", outcome="miss") == 1
    assert seen.value("qulab_cache_reads_total", family="user", outcome="bypass") == 3
    assert seen.value("qulab_cache_errors_total", family="user") == 2  # then the breaker opened
    assert seen.value("qulab_cache_breaker_state", state="open") == 1
    assert seen.value("qulab_cache_breaker_state", state="closed") == 0
    assert seen.value("qulab_cache_breaker_rejected_total") == 2
    assert seen.value("qulab_cache_deferred_invalidations") == 2  # user:… and latest_airscore:…


async def test_pool_gauges_show_connections_checked_out(db: Database) -> None:
    metrics = Metrics()
    metrics.watch(db=db)
    async with db.connect() as conn:
        await conn.exec_driver_sql("SELECT 1")
        during = read_registry(metrics.registry)
    after = read_registry(metrics.registry)

    assert during.value("qulab_db_pool_checked_out") == 1
    assert after.value("qulab_db_pool_checked_out") == 0
    assert after.value("qulab_db_pool_size") == db.settings.database.pool_size
    assert after.value("qulab_db_pool_max_overflow") == db.settings.database.max_overflow
    assert after.value("qulab_db_pool_overflow") == 0


def test_metrics_of_one_process_never_touch_the_global_registry() -> None:
    from prometheus_client import REGISTRY

    Metrics()
    Metrics()  # a second set in the same process registers without a clash
    assert REGISTRY.get_sample_value("qulab_cache_reads_total") is None


def test_a_cache_without_metrics_records_nowhere() -> None:
    cache = make_cache("memory", new_prefix())
    assert Metrics().watched_cache is None
    assert isinstance(cache.metrics, NoCacheMetrics)
