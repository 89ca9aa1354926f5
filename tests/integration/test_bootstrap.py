"""``bootstrap(settings)`` builds each piece the settings name, wires the cache to the bus,
and ``close()`` releases every connection it opened."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
import redis.asyncio as aioredis
from sqlalchemy import text

from qulab.core.bootstrap import Runtime
from qulab.core.cache import Outcome, build_cache
from qulab.core.config import Settings
from qulab.core.db import Database, make_engine
from qulab.core.errors import InvalidInput
from qulab.core.outbox import MemoryBroker, RedisStreamsPublisher
from qulab.core.outbox.redis_streams import stream_name
from qulab.platform import migrate
from qulab.platform.application import bootstrap
from qulab.platform.cache import families, read_user_cached
from qulab.platform.events import USER_AGGREGATE, UserUpdated
from qulab.platform.schemas import UserUpdate
from qulab.platform.uow import PlatformUnitOfWork
from tests import services
from tests.cache_support import RedisServer, new_prefix
from tests.service_calls import create_user
from tests.waiting import eventually


def _other_tasks() -> set[asyncio.Task[object]]:
    current = asyncio.current_task()
    return {task for task in asyncio.all_tasks() if task is not current and not task.done()}


async def _rename(rt: Runtime, user_id: str, name: str) -> None:
    """A commit through the runtime's unit of work, recording what it changed."""
    changes = UserUpdate(name=name)
    async with rt.uow() as uow:
        assert isinstance(uow, PlatformUnitOfWork)
        await uow.users.update(user_id, changes)
        uow.record(UserUpdated(user_id, changes.changes()))
        await uow.commit()


async def test_default_settings_build_memory_cache_and_memory_broker(
    runtime: Runtime, backend: str
) -> None:
    assert runtime.db.dialect == backend
    assert runtime.cache.backend.kind == "memory"
    assert isinstance(runtime.publisher, MemoryBroker)
    assert runtime.publisher is runtime.publisher  # built once
    assert runtime.bus is runtime.db.bus


async def test_a_commit_through_the_runtime_invalidates_a_cached_user(runtime: Runtime) -> None:
    user = await create_user(runtime.db, email="boot@example.com", name="Before")
    first = await read_user_cached(runtime.db, runtime.cache, user.id)
    again = await read_user_cached(runtime.db, runtime.cache, user.id)
    assert (first.outcome, again.outcome) == (Outcome.MISS, Outcome.HIT)

    await _rename(runtime, user.id, "After")

    after = await read_user_cached(runtime.db, runtime.cache, user.id)
    assert after.outcome == Outcome.MISS
    assert after.value is not None and after.value.name == "After"


async def test_an_injected_cache_is_subscribed_but_left_open(settings: Settings) -> None:
    cache = build_cache(settings, families(settings))
    rt = bootstrap(settings, cache=cache)
    assert rt.cache is cache
    assert cache.invalidate_events in rt.bus.handlers()
    await rt.close()
    assert cache.invalidate_events not in rt.bus.handlers()
    await rt.close()  # idempotent
    await cache.close()


async def _pg_connections(url: str) -> int:
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(services.with_database(url, "postgres").replace("+asyncpg", ""))
    try:
        count = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", name
        )
        return int(count)
    finally:
        await conn.close()


async def _redis_clients(url: str) -> int:
    """Clients connected to the private server, not counting this probe."""
    probe = aioredis.from_url(url)
    try:
        return len(await probe.client_list()) - 1
    finally:
        await probe.aclose()


async def test_postgres_redis_and_redis_streams_then_close_releases_everything(
    fresh_pg_url: str, redis_server: RedisServer
) -> None:
    await _assemble_use_and_close(fresh_pg_url, redis_server.url)


async def _assemble_use_and_close(url: str, redis_url: str) -> None:
    prefix = new_prefix()
    settings = Settings().replace(
        database_url=url,
        redis_url=redis_url,
        broker_url=redis_url,
        cache_prefix=prefix,
        outbox_stream_prefix=prefix,
    )
    before = _other_tasks()
    rt = bootstrap(settings)
    assert rt.db.dialect == "postgresql"
    assert rt.cache.backend.kind == "redis" and rt.cache.backend.shared
    assert isinstance(rt.publisher, RedisStreamsPublisher)
    # A shared cache is repaired by the relay: its invalidation is a durable handler.
    assert rt.bus.handlers(durable_only=True) == [rt.cache.invalidate_events]

    await migrate.upgrade(rt.db)
    user = await create_user(rt.db, email="pg@example.com", name="Before")
    assert (await read_user_cached(rt.db, rt.cache, user.id)).outcome == Outcome.MISS
    await _rename(rt, user.id, "After")
    fresh = await read_user_cached(rt.db, rt.cache, user.id)
    assert fresh.outcome == Outcome.MISS and fresh.value is not None
    assert fresh.value.name == "After"

    relay = rt.relay(listen=False)
    result = await relay.publish_pending()
    assert result.published == 2
    client = aioredis.from_url(redis_url)
    try:
        entries = await client.xrange(stream_name(USER_AGGREGATE, prefix)) or []
    finally:
        await client.aclose()
    assert len(entries) == 2

    assert await _pg_connections(url) >= 1
    assert await _redis_clients(redis_url) >= 1
    await rt.close()

    async def no_pg() -> bool:
        return await _pg_connections(url) == 0

    async def no_redis() -> bool:
        return await _redis_clients(redis_url) == 0

    await eventually(no_pg, "the engine's connections to close", interval=0.05)
    await eventually(
        no_redis, "the cache's and the publisher's Redis connections to close", interval=0.05
    )
    assert _other_tasks() <= before


async def test_an_injected_database_is_used_and_not_disposed(db: Database) -> None:
    pool = db.engine.sync_engine.pool
    rt = bootstrap(db.settings, database=db)
    assert rt.db is db and rt.uow().db is db
    await rt.close()
    assert db.engine.sync_engine.pool is pool  # dispose() would have replaced it
    async with db.reading() as session:
        assert (await session.execute(text("SELECT 1"))).scalar_one() == 1


async def test_close_disposes_a_database_it_built(settings: Settings) -> None:
    rt = bootstrap(settings)
    pool = rt.db.engine.sync_engine.pool
    await rt.close()
    assert rt.db.engine.sync_engine.pool is not pool


async def test_an_injected_engine_backs_the_database(settings: Settings) -> None:
    engine = make_engine(settings, null_pool=True)
    async with bootstrap(settings, engine=engine) as rt:
        assert rt.db.engine is engine
        assert rt.db.pool_status().kind == "NullPool"


def test_engine_and_database_together_are_refused(settings: Settings) -> None:
    engine = make_engine(settings)
    with pytest.raises(ValueError, match="either engine= or database="):
        bootstrap(settings, engine=engine, database=Database(settings, engine=engine))


async def test_an_injected_publisher_is_the_relays_and_stays_open(settings: Settings) -> None:
    publisher = MemoryBroker("bootstrap-injected", 10)
    async with bootstrap(settings, publisher=publisher) as rt:
        assert rt.publisher is publisher
        assert rt.relay(listen=False).publisher is publisher


async def test_a_runtime_builds_its_applications_consumer_by_name(runtime: Runtime) -> None:
    consumer = runtime.consumer("score-summary", broker="memory://consumer-by-name")
    try:
        assert consumer.name == "score-summary"
        assert consumer.handler.aggregate_types == ("User", "AIRScore")
        result = await consumer.run_once()
        assert result.processed == 0 and result.outage is None
    finally:
        await consumer.source.close()


def test_an_unknown_consumer_is_refused_naming_the_known_ones(runtime: Runtime) -> None:
    with pytest.raises(InvalidInput, match=r"'bogus' \(known: score-summary\)"):
        runtime.consumer("bogus")
