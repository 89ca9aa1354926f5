"""What a cached read costs in Redis commands, counted on a private redis-server (its
``INFO commandstats`` moves only with this test): one per hit, two per miss, three for a
stampede of 200 readers of one cold key, with one database load.

commandstats also counts the commands a script runs inside the server; they are asserted too
(STRLEN and GET of the lookup, GET and SET of the guarded store), so any extra round trip
would show. Only EVALSHA is a round trip."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from qulab.core.cache import Cache, Outcome, RedisBackend
from qulab.core.db import Database
from qulab.platform.cache import read_user_cached
from tests.cache_support import FAMILIES, RedisServer, new_prefix
from tests.service_calls import create_user

# The counting itself, and what a new connection says when it opens.
NOT_COUNTED = {"info", "client|setinfo", "hello", "select", "auth", "script|load"}
# One EVALSHA each, and what it runs inside the server.
LOOKUP_MISSING = Counter({"evalsha": 1, "strlen": 1, "get": 1})  # entry size, generation
LOOKUP_FOUND = Counter({"evalsha": 1, "strlen": 1, "get": 2})  # entry size, entry, generation
STORE = Counter({"evalsha": 1, "get": 1, "set": 1})  # generation check, write


class CommandCounter:
    """Commands the server ran since the last ``take``, by name, from INFO commandstats."""

    def __init__(self, url: str) -> None:
        self.client = aioredis.from_url(url)
        self.seen: Counter[str] = Counter()

    async def _now(self) -> Counter[str]:
        stats = await self.client.info("commandstats")
        return Counter(
            {
                name.removeprefix("cmdstat_"): int(entry["calls"])
                for name, entry in stats.items()
                if name.removeprefix("cmdstat_") not in NOT_COUNTED
            }
        )

    async def start(self) -> None:
        self.seen = await self._now()

    async def take(self) -> Counter[str]:
        now = await self._now()
        ran, self.seen = now - self.seen, now
        return ran


@pytest.fixture
async def private_cache(redis_server: RedisServer) -> AsyncIterator[tuple[Cache, CommandCounter]]:
    cache = Cache(
        RedisBackend(redis_server.url, socket_timeout=5.0), prefix=new_prefix(), families=FAMILIES
    )
    counter = CommandCounter(redis_server.url)
    try:
        yield cache, counter
    finally:
        await cache.close()
        await counter.client.aclose()


async def warm_up(db: Database, cache: Cache) -> None:
    """A miss and a hit of another user: connections open and scripts loaded beforehand."""
    other = await create_user(db, email="warm@example.com", name="Warm")
    for _ in range(2):
        await read_user_cached(db, cache, other.id)
    await cache.reset_stats()


async def test_a_miss_costs_two_commands_and_a_hit_one(
    db: Database, private_cache: tuple[Cache, CommandCounter]
) -> None:
    cache, counter = private_cache
    user = await create_user(db, email="rt@example.com", name="Rt")
    await warm_up(db, cache)
    await counter.start()

    miss = await read_user_cached(db, cache, user.id)
    miss_commands = await counter.take()
    hit = await read_user_cached(db, cache, user.id)
    hit_commands = await counter.take()

    assert (miss.outcome, hit.outcome) == (Outcome.MISS, Outcome.HIT)
    assert miss_commands == LOOKUP_MISSING + STORE
    assert hit_commands == LOOKUP_FOUND


async def test_two_hundred_readers_of_one_cold_key_cost_one_load_and_three_commands(
    db: Database, private_cache: tuple[Cache, CommandCounter]
) -> None:
    cache, counter = private_cache
    user = await create_user(db, email="herd@example.com", name="Herd")
    await warm_up(db, cache)
    await counter.start()

    with db.count_statements() as statements:
        results = await asyncio.gather(*(read_user_cached(db, cache, user.id) for _ in range(200)))

    assert statements.count == 1
    assert all(result.value == user for result in results)
    # The first reader's lookup; one lookup shared by the 199 that arrived while it was on the
    # wire (sent after they arrived, before the store); the store.
    assert await counter.take() == LOOKUP_MISSING + LOOKUP_MISSING + STORE
    stats = (await cache.stats()).families["user"]
    assert (stats.misses, stats.coalesced, stats.sets) == (200, 199, 1)
