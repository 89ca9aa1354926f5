"""The cache is never poisoned by a lagging standby: with replay paused, a write, its
invalidation and reads through the cache show the writer its write and no reader the old
value, and once replay resumes no read is stale."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import pytest
from sqlalchemy import text

from qulab.core.bootstrap import Runtime
from qulab.core.cache import MemoryBackend, RedisBackend
from qulab.core.outbox import MemoryBroker, Relay
from qulab.lab.private_postgres import PrivateCluster
from qulab.platform import read_models
from qulab.platform.cache import read_user_cached, user_family
from qulab.platform.events import UserUpdated
from qulab.platform.schemas import UpdateUser, UserCreate
from qulab.platform.services.users import create_user
from qulab.platform.uow import PlatformUnitOfWork, uow_factory
from tests import services
from tests.cache_support import delete_prefix, new_prefix
from tests.replica_support import (
    caught_up,
    received,
    replay_paused,
    replica_runtime,
    replica_settings,
    replicated_database,
)

__all__ = ["replicated_database"]  # the fixture, used by name

T = TypeVar("T")
READERS = 12


async def fresh(call: Callable[[], Awaitable[T]]) -> T:
    """``call`` as another request would make it: in a context that has written nothing."""

    async def run() -> T:
        return await call()

    return await asyncio.create_task(run(), context=contextvars.Context())


@pytest.fixture(params=["memory", "redis"])
async def runtime(
    request: pytest.FixtureRequest, replicated_postgres: PrivateCluster, replicated_database: str
) -> AsyncIterator[Runtime]:
    prefix = new_prefix()
    changes: dict[str, object] = {"cache_prefix": prefix}
    if request.param == "redis":
        services.require_redis()
        changes["redis_url"] = services.REDIS_URL
    settings = replica_settings(replicated_postgres, replicated_database, **changes)
    try:
        async with replica_runtime(settings) as rt:
            yield rt
    finally:
        if request.param == "redis":
            await delete_prefix(services.REDIS_URL, prefix)


async def test_a_fill_from_a_standby_behind_the_invalidation_is_never_stored_or_served(
    replicated_postgres: PrivateCluster, runtime: Runtime
) -> None:
    db, cache = runtime.db, runtime.cache
    user = await create_user(UserCreate(email=_email(), name="Before"), uow_factory(runtime.db))
    await caught_up(replicated_postgres)

    async def cached_name() -> str:
        found = (await read_user_cached(db, cache, user.id)).value
        assert found is not None
        return found.name

    async def core_fill_name() -> str:
        # The same fill through a Core read connection opened inside the load.
        family = user_family(cache)
        found = (
            await cache.read_through(family, user.id, lambda: read_models.read_user(db, user.id))
        ).value
        assert found is not None
        return found.name

    async def standby_name() -> str:
        async with db.reading() as session:
            assert (await session.execute(text("SELECT pg_is_in_recovery()"))).scalar_one()
            row = await session.execute(
                text("SELECT name FROM users WHERE id = :id"), {"id": user.id}
            )
            return str(row.scalar_one())

    assert await fresh(cached_name) == "Before"  # filled from the standby, then a hit
    async with replay_paused(replicated_postgres):
        async with PlatformUnitOfWork(runtime.db) as work:
            await work.users.update(user.id, UpdateUser(user_id=user.id, name="After"))
            work.record(UserUpdated(user.id, {"name": "After"}))
            await work.commit()  # ...and the cache's invalidation, recording the token
        token = work.token
        assert token is not None
        await received(replicated_postgres, str(token))
        generation = await cache.backend.get_generation(
            cache.generation_key(cache.key(user_family(cache), user.id))
        )
        assert generation is not None and generation.endswith(f"@{token.lsn}".encode())

        # The standby has not replayed the update: a plain read there still sees the old name.
        assert await fresh(standby_name) == "Before"
        # Every reader after the invalidation gets the new name, through either kind of fill.
        names = await asyncio.gather(*(fresh(cached_name) for _ in range(READERS)))
        names += [await fresh(core_fill_name), await cached_name()]  # ...and the writer
        assert names == ["After"] * (READERS + 2)
    await caught_up(replicated_postgres)
    await cache.invalidate(user_family(cache), [user.id])  # fills come from the standby again
    after = await asyncio.gather(*(fresh(cached_name) for _ in range(READERS)))
    after += [await fresh(standby_name), await fresh(core_fill_name)]
    assert [name for name in after if name != "After"] == []  # 0 stale reads


async def test_the_relays_repair_records_a_position_past_the_commit(
    replicated_postgres: PrivateCluster, replicated_database: str
) -> None:
    prefix = new_prefix()
    services.require_redis()
    settings = replica_settings(
        replicated_postgres,
        replicated_database,
        cache_prefix=prefix,
        redis_url=services.REDIS_URL,
    )
    try:
        async with replica_runtime(settings) as rt:
            user = await create_user(UserCreate(email=_email(), name="Before"), uow_factory(rt.db))
            rt.cache.unsubscribe(rt.db.bus)  # the writer's invalidation does not happen
            async with PlatformUnitOfWork(rt.db) as work:
                await work.users.update(user.id, UpdateUser(user_id=user.id, name="After"))
                work.record(UserUpdated(user.id, {"name": "After"}))
                await work.commit()
            assert work.token is not None
            rt.cache.subscribe(rt.db.bus)
            relay = Relay(rt.db, MemoryBroker(), listen=False)
            await fresh(relay.publish_pending)  # as a relay process would: no write of its own
            key = rt.cache.generation_key(rt.cache.key(user_family(rt.cache), user.id))
            generation = await rt.cache.backend.get_generation(key)
            assert generation is not None and b"@" in generation
            assert int(generation.rpartition(b"@")[2]) >= work.token.lsn
    finally:
        await delete_prefix(services.REDIS_URL, prefix)


async def test_a_generation_keeps_the_highest_position_through_bumps_without_one(
    redis_url: str,
) -> None:
    prefix = new_prefix()
    backends: list[MemoryBackend | RedisBackend] = [MemoryBackend(10), RedisBackend(redis_url)]
    try:
        for backend in backends:
            gen_key = f"{prefix}gen:{backend.kind}"
            await backend.bump_generations([gen_key], [], 60, floor=200)
            first = await backend.get_generation(gen_key)
            await backend.bump_generations([gen_key], [], 60)  # the relay's repair: no position
            second = await backend.get_generation(gen_key)
            await backend.bump_generations([gen_key], [], 60, floor=100)  # an older commit's
            third = await backend.get_generation(gen_key)
            assert len({first, second, third}) == 3, backend.kind
            for generation in (first, second, third):
                assert generation is not None and generation.endswith(b"@200"), backend.kind
            plain = f"{prefix}gen:plain:{backend.kind}"
            await backend.bump_generations([plain], [], 60)
            assert await backend.get_generation(plain) is not None
            assert b"@" not in (await backend.get_generation(plain) or b"")
    finally:
        await backends[1].close()
        await delete_prefix(redis_url, prefix)


def _email() -> str:
    return f"{services.unique_name('guard')}@example.com"
