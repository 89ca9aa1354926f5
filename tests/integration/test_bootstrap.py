"""``bootstrap(settings)`` builds each piece the settings name, wires the cache to the bus,
and ``close()`` releases every connection it opened."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
import redis.asyncio as aioredis
from sqlalchemy import text

from qulab.core.bootstrap import QuLab, bootstrap
from qulab.core.cache import Outcome, build_cache, read_user_cached
from qulab.core.config import Settings
from qulab.core.db import Database, make_engine
from qulab.core.outbox import MemoryBroker, RedisStreamsPublisher
from qulab.core.outbox.redis_streams import stream_name
from qulab.platform import migrate
from qulab.platform.events import USER_AGGREGATE, UserUpdated
from qulab.platform.schemas import UserUpdate
from tests import services
from tests.cache_support import RedisServer, new_prefix
from tests.service_calls import create_user
from tests.waiting import eventually


def _other_tasks() -> set[asyncio.Task[object]]:
    current = asyncio.current_task()
    return {task for task in asyncio.all_tasks() if task is not current and not task.done()}


async def _rename(lab: QuLab, user_id: str, name: str) -> None:
    """A commit through the runtime's unit of work, recording what it changed."""
    changes = UserUpdate(name=name)
    async with lab.uow() as uow:
        await uow.users.update(user_id, changes)
        uow.record(UserUpdated(user_id, changes.changes()))
        await uow.commit()


async def test_default_settings_build_memory_cache_and_memory_broker(
    runtime: QuLab, backend: str
) -> None:
    assert runtime.db.dialect == backend
    assert runtime.cache.backend.kind == "memory"
    assert isinstance(runtime.publisher, MemoryBroker)
    assert runtime.publisher is runtime.publisher  # built once
    assert runtime.bus is runtime.db.bus


async def test_a_commit_through_the_runtime_invalidates_a_cached_user(runtime: QuLab) -> None:
    user = await create_user(runtime.db, email="boot@example.com", name="Before")
    first = await read_user_cached(runtime.db, runtime.cache, user.id)
    again = await read_user_cached(runtime.db, runtime.cache, user.id)
    assert (first.outcome, again.outcome) == (Outcome.MISS, Outcome.HIT)

    await _rename(runtime, user.id, "After")

    after = await read_user_cached(runtime.db, runtime.cache, user.id)
    assert after.outcome == Outcome.MISS
    assert after.value is not None and after.value.name == "After"


async def test_an_injected_cache_is_subscribed_but_left_open(settings: Settings) -> None:
    cache = build_cache(settings)
    lab = bootstrap(settings, cache=cache)
    assert lab.cache is cache
    assert cache.invalidate_events in lab.bus.handlers()
    await lab.close()
    assert cache.invalidate_events not in lab.bus.handlers()
    await lab.close()  # idempotent
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
    settings = Settings(
        database_url=url,
        redis_url=redis_url,
        broker_url=redis_url,
        cache_prefix=prefix,
        outbox_stream_prefix=prefix,
    )
    before = _other_tasks()
    lab = bootstrap(settings)
    assert lab.db.dialect == "postgresql"
    assert lab.cache.backend.kind == "redis" and lab.cache.backend.shared
    assert isinstance(lab.publisher, RedisStreamsPublisher)
    # A shared cache is repaired by the relay: its invalidation is a durable handler.
    assert lab.bus.handlers(durable_only=True) == [lab.cache.invalidate_events]

    await migrate.upgrade(lab.db)
    user = await create_user(lab.db, email="pg@example.com", name="Before")
    assert (await read_user_cached(lab.db, lab.cache, user.id)).outcome == Outcome.MISS
    await _rename(lab, user.id, "After")
    fresh = await read_user_cached(lab.db, lab.cache, user.id)
    assert fresh.outcome == Outcome.MISS and fresh.value is not None
    assert fresh.value.name == "After"

    relay = lab.relay(listen=False)
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
    await lab.close()

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
    lab = bootstrap(db.settings, database=db)
    assert lab.db is db and lab.uow().db is db
    await lab.close()
    assert db.engine.sync_engine.pool is pool  # dispose() would have replaced it
    async with db.reading() as session:
        assert (await session.execute(text("SELECT 1"))).scalar_one() == 1


async def test_close_disposes_a_database_it_built(settings: Settings) -> None:
    lab = bootstrap(settings)
    pool = lab.db.engine.sync_engine.pool
    await lab.close()
    assert lab.db.engine.sync_engine.pool is not pool


async def test_an_injected_engine_backs_the_database(settings: Settings) -> None:
    engine = make_engine(settings, null_pool=True)
    async with bootstrap(settings, engine=engine) as lab:
        assert lab.db.engine is engine
        assert lab.db.pool_status().kind == "NullPool"


def test_engine_and_database_together_are_refused(settings: Settings) -> None:
    engine = make_engine(settings)
    with pytest.raises(ValueError, match="either engine= or database="):
        bootstrap(settings, engine=engine, database=Database(settings, engine=engine))


async def test_an_injected_publisher_is_the_relays_and_stays_open(settings: Settings) -> None:
    publisher = MemoryBroker("bootstrap-injected", 10)
    async with bootstrap(settings, publisher=publisher) as lab:
        assert lab.publisher is publisher
        assert lab.relay(listen=False).publisher is publisher
