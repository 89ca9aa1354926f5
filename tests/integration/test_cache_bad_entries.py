"""One bad entry harms only its own key: a value of another Redis type, a huge value, or a value
too large to cache is a miss for that key (counted as its own reason), never a breaker failure,
and the next load overwrites it. Other users' reads stay hits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest
import redis.asyncio as aioredis

from qulab.core.cache import Cache, CircuitBreaker, MemoryBackend, Outcome, RedisBackend
from qulab.core.db import Database
from qulab.platform.cache import invalidate_user, read_user_cached, user_family
from tests import services
from tests.cache_support import FAMILIES, RedisServer, delete_prefix, new_prefix
from tests.service_calls import create_user, update_user

HUGE = 48 * 1024 * 1024


@pytest.fixture(params=["memory", "redis"])
def cache_kind(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        request.getfixturevalue("redis_url")
    return str(request.param)


def backend_of(kind: str, url: str, max_value_bytes: int) -> MemoryBackend | RedisBackend:
    if kind == "redis":
        return RedisBackend(url, max_value_bytes=max_value_bytes)
    return MemoryBackend(1000, max_value_bytes=max_value_bytes)


async def plant(cache: Cache, key: str, value: bytes) -> None:
    """Write a value the way a foreign writer would (no size limit, no timeout)."""
    if isinstance(cache.backend, RedisBackend):
        client = aioredis.from_url(cache.backend.url)
        try:
            await client.set(key, value, ex=600)
        finally:
            await client.aclose()
    else:
        await cache.backend.set(key, value, 600)


@pytest.fixture
async def raw() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(services.REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


async def test_a_huge_value_at_one_key_is_a_miss_for_that_key_only_and_is_replaced(
    db: Database, cache_kind: str
) -> None:
    prefix = new_prefix()
    cache = Cache(
        backend_of(cache_kind, services.REDIS_URL, 1_048_576), prefix=prefix, families=FAMILIES
    )
    try:
        good = await create_user(db, email="good@example.com", name="Good")
        huge = await create_user(db, email="huge@example.com", name="Huge")
        await read_user_cached(db, cache, good.id)  # cached
        await plant(cache, cache.key(user_family(cache), huge.id), b"x" * HUGE)

        outcomes = []
        for _ in range(3):
            outcomes.append((await read_user_cached(db, cache, good.id)).outcome)
            outcomes.append((await read_user_cached(db, cache, huge.id)).outcome)

        assert outcomes == [Outcome.HIT, Outcome.MISS] + [Outcome.HIT] * 4
        replaced = await cache.backend.get(cache.key(user_family(cache), huge.id))
        assert replaced is not None and orjson.loads(replaced)["d"]["name"] == "Huge"
        stats = (await cache.stats()).families["user"]
        assert (stats.oversize, stats.errors, stats.bypassed) == (1, 0, 0)
        assert (str(cache.breaker.state), cache.breaker.consecutive_failures) == ("closed", 0)
    finally:
        await cache.close()
        if cache_kind == "redis":
            await delete_prefix(services.REDIS_URL, prefix)


async def test_a_hash_at_one_users_key_is_a_miss_for_that_user_only_and_is_overwritten(
    db: Database, raw: aioredis.Redis, redis_url: str
) -> None:
    prefix = new_prefix()
    breaker = CircuitBreaker("test", failure_threshold=1)
    cache = Cache(RedisBackend(redis_url), prefix=prefix, breaker=breaker, families=FAMILIES)
    try:
        good = await create_user(db, email="good@example.com", name="Good")
        odd = await create_user(db, email="odd@example.com", name="Odd")
        await read_user_cached(db, cache, good.id)
        odd_key = cache.key(user_family(cache), odd.id)
        await raw.hset(odd_key, mapping={"not": "a string"})

        first = await read_user_cached(db, cache, odd.id)
        others = [await read_user_cached(db, cache, good.id) for _ in range(5)]
        second = await read_user_cached(db, cache, odd.id)

        assert (first.outcome, first.value) == (Outcome.MISS, odd)
        assert {result.outcome for result in others} == {Outcome.HIT}
        assert (second.outcome, second.value) == (Outcome.HIT, odd)
        assert await raw.type(odd_key) == b"string"
        stats = (await cache.stats()).families["user"]
        assert (stats.wrong_type, stats.errors, stats.bypassed) == (1, 0, 0)
        assert str(cache.breaker.state) == "closed"
    finally:
        await cache.close()
        await delete_prefix(redis_url, prefix)


async def test_a_broken_generation_key_is_replaced_by_the_next_load(
    db: Database, raw: aioredis.Redis, redis_url: str
) -> None:
    prefix = new_prefix()
    cache = Cache(RedisBackend(redis_url), prefix=prefix, families=FAMILIES)
    cache.subscribe(db.bus)
    try:
        user = await create_user(db, email="gen@example.com", name="Gen")
        gen_key = cache.generation_key(cache.key(user_family(cache), user.id))
        await raw.rpush(gen_key, "not a counter")

        reads = [await read_user_cached(db, cache, user.id) for _ in range(2)]

        assert [(r.outcome, r.value) for r in reads] == [(Outcome.MISS, user), (Outcome.HIT, user)]
        assert await raw.type(gen_key) == b"string"
        assert str(cache.breaker.state) == "closed" and not cache.pending_invalidations
        await update_user(db, user.id, name="Gen2")  # invalidation still works on the new one
        after = await read_user_cached(db, cache, user.id)
        assert (after.outcome, after.value and after.value.name) == (Outcome.MISS, "Gen2")
        stats = (await cache.stats()).families["user"]
        assert (stats.wrong_type, stats.errors) == (1, 0)
    finally:
        cache.unsubscribe(db.bus)
        await cache.close()
        await delete_prefix(redis_url, prefix)


async def test_an_invalidation_replaces_a_generation_that_is_not_a_counter(
    db: Database, raw: aioredis.Redis, redis_url: str
) -> None:
    prefix = new_prefix()
    cache = Cache(RedisBackend(redis_url), prefix=prefix, families=FAMILIES)
    try:
        user = await create_user(db, email="gen2@example.com", name="Gen")
        await read_user_cached(db, cache, user.id)
        gen_key = cache.generation_key(cache.key(user_family(cache), user.id))
        await raw.set(gen_key, "not a number")

        await invalidate_user(cache, user.id)

        assert not cache.pending_invalidations and str(cache.breaker.state) == "closed"
        assert int(await raw.get(gen_key) or b"0") > 0
        assert await raw.exists(cache.key(user_family(cache), user.id)) == 0
    finally:
        await cache.close()
        await delete_prefix(redis_url, prefix)


async def test_a_value_above_the_limit_is_not_stored_and_is_counted_too_large(
    db: Database, cache_kind: str
) -> None:
    prefix = new_prefix()
    cache = Cache(backend_of(cache_kind, services.REDIS_URL, 400), prefix=prefix, families=FAMILIES)
    try:
        small = await create_user(db, email="s@example.com", name="S")
        large = await create_user(db, email="l@example.com", name="L" * 255)

        small_reads = [await read_user_cached(db, cache, small.id) for _ in range(2)]
        large_reads = [await read_user_cached(db, cache, large.id) for _ in range(2)]

        assert [r.outcome for r in small_reads] == [Outcome.MISS, Outcome.HIT]
        assert [r.outcome for r in large_reads] == [Outcome.MISS, Outcome.MISS]
        assert all(r.value == large for r in large_reads)
        assert await cache.backend.get(cache.key(user_family(cache), large.id)) is None
        stats = (await cache.stats()).families["user"]
        # The second read joined the first one's finished flight: one refused store.
        assert (stats.too_large, stats.sets, stats.errors) == (1, 1, 0)
    finally:
        await cache.close()
        if cache_kind == "redis":
            await delete_prefix(services.REDIS_URL, prefix)


async def test_a_huge_redis_value_is_never_transferred(
    db: Database, redis_server: RedisServer
) -> None:
    """Measured on a private server, whose output counter only this test moves."""
    raw_client = aioredis.from_url(redis_server.url)
    cache = Cache(RedisBackend(redis_server.url), prefix=new_prefix(), families=FAMILIES)
    try:
        user = await create_user(db, email="big@example.com", name="Big")
        await raw_client.set(cache.key(user_family(cache), user.id), b"x" * HUGE)
        before = int((await raw_client.info("stats"))["total_net_output_bytes"])

        result = await read_user_cached(db, cache, user.id)

        after = int((await raw_client.info("stats"))["total_net_output_bytes"])
        assert (result.outcome, result.value) == (Outcome.MISS, user)
        assert after - before < 2 * 1_048_576, f"{after - before} bytes sent"
        assert await raw_client.strlen(cache.key(user_family(cache), user.id)) < 1024
    finally:
        await cache.close()
        await raw_client.aclose()


async def test_concurrent_reads_of_other_users_stay_hits_beside_bad_entries(
    db: Database, redis_server: RedisServer
) -> None:
    raw_client = aioredis.from_url(redis_server.url)
    # A generous socket timeout: what is measured is how bad entries count, not a busy machine.
    cache = Cache(
        RedisBackend(redis_server.url, socket_timeout=5.0), prefix=new_prefix(), families=FAMILIES
    )
    try:
        good = [await create_user(db, email=f"g{i}@example.com", name=f"G{i}") for i in range(5)]
        odd = await create_user(db, email="odd@example.com", name="Odd")
        huge = await create_user(db, email="huge@example.com", name="Huge")
        for user in good:
            await read_user_cached(db, cache, user.id)
        await raw_client.hset(cache.key(user_family(cache), odd.id), mapping={"a": "b"})
        await raw_client.set(cache.key(user_family(cache), huge.id), b"x" * HUGE)

        readers = [user for _ in range(20) for user in good] + [odd, huge] * 5
        results = await asyncio.gather(*(read_user_cached(db, cache, u.id) for u in readers))

        assert all(result.value == user for user, result in zip(readers, results, strict=True))
        assert {r.outcome for u, r in zip(readers, results, strict=True) if u in good} == {
            Outcome.HIT
        }
        stats = (await cache.stats()).families["user"]
        assert (stats.errors, stats.bypassed, str(cache.breaker.state)) == (0, 0, "closed")
        assert stats.wrong_type >= 1 and stats.oversize >= 1
        again = [await read_user_cached(db, cache, user.id) for user in (odd, huge)]
        assert [result.outcome for result in again] == [Outcome.HIT, Outcome.HIT]
    finally:
        await cache.close()
        await raw_client.aclose()
