"""Fail-open: Redis unreachable from the start, or going away mid-run. Every read returns the
database's data; the breaker opens and stops calling; when Redis is back, caching resumes."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from qulab.core.cache import Cache, CacheResult, CircuitBreaker, Outcome, RedisBackend
from qulab.core.cache.core import RETRY_TASK_NAME
from qulab.core.db import Database
from qulab.platform.cache import invalidate_user, read_user_cached
from qulab.platform.schemas import UserRead
from tests import services
from tests.cache_support import FAMILIES, ManualClock, RedisServer, all_keys, new_prefix
from tests.service_calls import create_user, update_user
from tests.waiting import eventually


def breaker_cache(url: str, clock: ManualClock, threshold: int = 2) -> Cache:
    breaker = CircuitBreaker("test", failure_threshold=threshold, reset_seconds=30, clock=clock)
    return Cache(
        RedisBackend(url, socket_timeout=0.5),
        prefix=new_prefix(),
        breaker=breaker,
        families=FAMILIES,
    )


async def test_unreachable_redis_from_the_start_serves_the_database_and_opens_the_breaker(
    db: Database,
) -> None:
    clock = ManualClock()
    cache = breaker_cache(f"redis://127.0.0.1:{services.free_port()}/0", clock, threshold=3)
    user = await create_user(db, email="down@example.com", name="Down")
    try:
        results = [await read_user_cached(db, cache, user.id) for _ in range(6)]

        assert all(result.value == user for result in results)
        assert {result.outcome for result in results} == {Outcome.BYPASS}
        stats = (await cache.stats()).families["user"]
        # Three calls failed, then the open breaker refused the other three without a call.
        assert (stats.errors, cache.breaker.rejected, str(cache.breaker.state)) == (3, 3, "open")
        status = await cache.status()
        assert (status.connected, status.breaker_state, status.server_version) == (
            False,
            "open",
            None,
        )
    finally:
        await cache.close()


async def test_redis_going_away_and_coming_back(db: Database, redis_server: RedisServer) -> None:
    clock = ManualClock()
    cache = breaker_cache(redis_server.url, clock)
    cache.subscribe(db.bus)
    user = await create_user(db, email="flap@example.com", name="Before")
    try:
        assert (await read_user_cached(db, cache, user.id)).outcome is Outcome.MISS
        assert (await read_user_cached(db, cache, user.id)).outcome is Outcome.HIT

        redis_server.stop()
        during = [await read_user_cached(db, cache, user.id) for _ in range(5)]
        assert all(result.value == user for result in during)
        assert [r.outcome for r in during] == [Outcome.BYPASS] * 5
        assert str(cache.breaker.state) == "open"
        errors = (await cache.stats()).families["user"].errors
        assert (errors, cache.breaker.rejected) == (2, 3)  # no socket call while open

        await update_user(db, user.id, name="After")  # invalidation deferred, not lost
        assert cache.pending_invalidations

        redis_server.start()
        clock.advance(30)  # the reset period passes: the next call probes
        back = await read_user_cached(db, cache, user.id)
        assert (back.outcome, back.value and back.value.name) == (Outcome.MISS, "After")
        assert str(cache.breaker.state) == "closed"
        assert not cache.pending_invalidations
        again = await read_user_cached(db, cache, user.id)
        assert (again.outcome, again.value and again.value.name) == (Outcome.HIT, "After")
    finally:
        cache.unsubscribe(db.bus)
        await cache.close()


async def test_deferred_invalidation_is_applied_before_the_next_hit(
    db: Database, redis_server: RedisServer
) -> None:
    """A write whose invalidation could not reach Redis must not let the old entry be served
    once Redis answers again (the entry survived: Redis only refused this client meanwhile)."""
    clock = ManualClock()
    cache = breaker_cache(redis_server.url, clock, threshold=1)
    cache.subscribe(db.bus)
    user = await create_user(db, email="defer@example.com", name="Before")
    try:
        await read_user_cached(db, cache, user.id)
        assert (await read_user_cached(db, cache, user.id)).outcome is Outcome.HIT
        cache.breaker.record_failure("simulated outage")  # open: calls are refused
        await update_user(db, user.id, name="After")
        assert cache.pending_invalidations

        clock.advance(30)
        result = await read_user_cached(db, cache, user.id)
        assert (result.outcome, result.value and result.value.name) == (Outcome.MISS, "After")
    finally:
        cache.unsubscribe(db.bus)
        await cache.close()


async def test_keys_are_created_only_under_the_configured_prefix(
    db: Database, redis_server: RedisServer
) -> None:
    cache = breaker_cache(redis_server.url, ManualClock())
    cache.subscribe(db.bus)
    user = await create_user(db, email="pfx@example.com", name="Prefix")
    try:
        await read_user_cached(db, cache, user.id)
        await read_user_cached(db, cache, user.id)
        await update_user(db, user.id, name="Prefix2")
        await read_user_cached(db, cache, user.id)
        await cache.flush_stats()
        keys = await all_keys(redis_server.url)
        assert keys, "the cache wrote nothing"
        assert all(key.startswith(cache.prefix) for key in keys), keys
        assert f"{cache.prefix}user:{user.id}" in keys
    finally:
        cache.unsubscribe(db.bus)
        await cache.close()


async def test_a_deferred_invalidation_reaches_redis_while_the_writer_stays_idle(
    db: Database, redis_server: RedisServer
) -> None:
    """The writer invalidates while Redis is down and then does nothing: once Redis is back,
    another client stops serving the old entry within the breaker's reset period + 1 s."""
    reset = 1.0
    prefix = new_prefix()
    breaker = CircuitBreaker("writer", failure_threshold=1, reset_seconds=reset)
    writer = Cache(
        RedisBackend(redis_server.url), prefix=prefix, breaker=breaker, families=FAMILIES
    )
    writer.subscribe(db.bus)
    user = await create_user(db, email="idle@example.com", name="Before")
    first_reader = Cache(RedisBackend(redis_server.url), prefix=prefix, families=FAMILIES)
    try:
        await read_user_cached(db, first_reader, user.id)
        assert (await read_user_cached(db, first_reader, user.id)).outcome is Outcome.HIT
        await first_reader.close()
        raw = aioredis.from_url(redis_server.url)
        await raw.save()  # the old entry survives the restart, as it would a network cut
        await raw.aclose()

        redis_server.stop()
        await update_user(db, user.id, name="After")
        assert writer.pending_invalidations
        redis_server.start()

        reader = Cache(RedisBackend(redis_server.url), prefix=prefix, families=FAMILIES)

        async def old_entry_gone() -> CacheResult[UserRead] | None:
            seen = await read_user_cached(db, reader, user.id)
            return None if (seen.value and seen.value.name) == "Before" else seen

        try:
            seen = await eventually(
                old_entry_gone, "the old entry to be gone", timeout=reset + 1, interval=0.05
            )
            assert (seen.outcome, seen.value and seen.value.name) == (Outcome.MISS, "After")
        finally:
            await reader.close()
        assert not writer.pending_invalidations
    finally:
        writer.unsubscribe(db.bus)
        await writer.close()


def retry_tasks() -> list[asyncio.Task[object]]:
    return [task for task in asyncio.all_tasks() if task.get_name() == RETRY_TASK_NAME]


async def test_the_retry_task_runs_only_while_invalidations_are_pending_and_stops_on_close(
    db: Database,
) -> None:
    url = f"redis://127.0.0.1:{services.free_port()}/0"
    breaker = CircuitBreaker("test", failure_threshold=1, reset_seconds=0.05)
    cache = Cache(
        RedisBackend(url, socket_timeout=0.5),
        prefix=new_prefix(),
        breaker=breaker,
        families=FAMILIES,
    )
    assert retry_tasks() == []
    await invalidate_user(cache, "00000000-0000-4000-8000-000000000002")
    await invalidate_user(cache, "00000000-0000-4000-8000-000000000003")
    try:
        (task,) = retry_tasks()  # one task, however many invalidations wait
        # It keeps retrying on the breaker's clock.
        await eventually(
            lambda: cache.breaker.consecutive_failures >= 3, "three retries", timeout=5
        )
        assert len(cache.pending_invalidations) == 4
    finally:
        await cache.close()
    assert task.done() and retry_tasks() == []
