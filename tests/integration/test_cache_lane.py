"""The cache's Redis lane on a private redis-server: a Redis that stops answering costs one
bounded wait (then the database answers), connections stay within their bound, and a connection
the server dropped while idle is replaced without a failed read."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from qulab.core.cache import Cache, CircuitBreaker, Outcome, RedisBackend
from qulab.core.db import Database
from qulab.platform.cache import read_user_cached
from tests.cache_support import FAMILIES, ManualClock, RedisServer, new_prefix
from tests.service_calls import create_user
from tests.tcp_proxy import TcpProxy


async def test_a_redis_that_stops_answering_is_cut_off_and_the_database_answers(
    db: Database, redis_server: RedisServer
) -> None:
    proxy = await TcpProxy("127.0.0.1", redis_server.port).start()
    clock = ManualClock()
    breaker = CircuitBreaker("test", failure_threshold=1, reset_seconds=30, clock=clock)
    backend = RedisBackend(f"redis://127.0.0.1:{proxy.port}/0", socket_timeout=0.2)
    cache = Cache(backend, prefix=new_prefix(), breaker=breaker, families=FAMILIES)
    try:
        user = await create_user(db, email="stall@example.com", name="Stall")
        assert (await read_user_cached(db, cache, user.id)).outcome is Outcome.MISS

        proxy.stall()
        stalled = await read_user_cached(db, cache, user.id)

        assert (stalled.outcome, stalled.value) == (Outcome.BYPASS, user)
        assert str(breaker.state) == "open"
        assert breaker.last_error is not None and "no reply within 0.2s" in breaker.last_error
        proxy.resume()
        clock.advance(30)
        back = await read_user_cached(db, cache, user.id)
        assert (back.outcome, back.value) == (Outcome.HIT, user)
        assert str(breaker.state) == "closed"
    finally:
        await cache.close()
        await proxy.close()


async def test_concurrent_reads_share_at_most_max_connections(
    db: Database, redis_server: RedisServer
) -> None:
    backend = RedisBackend(redis_server.url, socket_timeout=5.0, max_connections=2)
    cache = Cache(backend, prefix=new_prefix(), families=FAMILIES)
    observer = aioredis.from_url(redis_server.url)
    try:
        users = [await create_user(db, email=f"c{i}@example.com", name=f"C{i}") for i in range(30)]

        results = await asyncio.gather(*(read_user_cached(db, cache, u.id) for u in users * 2))

        assert [result.value for result in results] == users * 2
        assert Outcome.BYPASS not in {result.outcome for result in results}
        clients = (await observer.info("clients"))["connected_clients"]
        assert clients == 2 + 1  # the lane's two, and this observer
    finally:
        await cache.close()
        await observer.aclose()


async def test_a_connection_the_server_dropped_while_idle_is_replaced_without_a_failure(
    db: Database, redis_server: RedisServer
) -> None:
    cache = Cache(
        RedisBackend(redis_server.url, socket_timeout=5.0), prefix=new_prefix(), families=FAMILIES
    )
    admin = aioredis.from_url(redis_server.url)
    try:
        user = await create_user(db, email="kill@example.com", name="Kill")
        await read_user_cached(db, cache, user.id)
        await admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")

        again = await read_user_cached(db, cache, user.id)

        assert (again.outcome, again.value) == (Outcome.HIT, user)
        stats = (await cache.stats()).families["user"]
        assert (stats.errors, stats.bypassed, str(cache.breaker.state)) == (0, 0, "closed")
    finally:
        await cache.close()
        await admin.aclose()
