"""A writer that cannot reach Redis commits and exits; Redis comes back holding the stale
entry. The relay (a loop in this process, or ``qulab outbox relay --once``) repairs the
invalidation: within the relay interval plus a second every reader sees the new value, and
from then on none reads the old one."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis

from qulab.core.cache import Cache, CacheResult, Outcome
from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.core.outbox import MemoryBroker, Relay
from qulab.entrypoints.cli._common import open_db
from qulab.platform.cache import read_user_cached
from qulab.platform.schemas import UserRead
from tests.cache_support import RedisServer, make_cache, new_prefix
from tests.service_calls import create_user
from tests.waiting import eventually

RELAY_INTERVAL = 1.0
READS_AFTER = 50
PROCESS_TIMEOUT = 60


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A private redis-server; it saves to ``tmp_path`` only when asked (SAVE) and loads that
    dump when started again on the same port."""
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _qulab(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qulab", *args],
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
        check=False,
    )


async def _raw(url: str, key: str) -> bytes | None:
    client = aioredis.from_url(url)
    try:
        value = await client.get(key)
        assert not isinstance(value, str)  # not decoded: the stored bytes
        return value
    finally:
        await client.aclose()


async def _answered(db: Database, cache: Cache, user_id: str) -> str:
    """The name one reader is served by the cache (it waits out a reconnect, never counting a
    BYPASS, which would read the database and hide a stale entry)."""

    async def served() -> CacheResult[UserRead] | None:
        result = await read_user_cached(db, cache, user_id)
        return None if result.outcome is Outcome.BYPASS else result

    result = await eventually(served, "a read the cache serves (not a bypass)")
    assert result.value is not None
    return result.value.name


async def _commit_while_redis_is_down(
    db: Database, server: RedisServer, readers: list[Cache], env: dict[str, str]
) -> str:
    """Cache "Before" in Redis, save it, stop Redis, update the user from a writer process,
    start Redis again from the dump. Returns the user's id."""
    user = await create_user(db, email="durable@example.com", name="Before")
    for reader in readers:
        assert await _answered(db, reader, user.id) == "Before"
        assert (await read_user_cached(db, reader, user.id)).outcome is Outcome.HIT
    client = aioredis.from_url(server.url)
    try:
        await client.save()
    finally:
        await client.aclose()
    server.stop()

    writer = await asyncio.to_thread(_qulab, env, "user", "update", user.id, "--name", "After")

    assert writer.returncode == 0, writer.stderr
    assert f"updated {user.id}: name=After" in writer.stdout
    server.start()
    stale = await _raw(server.url, f"{readers[0].prefix}user:{user.id}")
    assert stale is not None and orjson.loads(stale)["d"]["name"] == "Before"
    for reader in readers:  # every reader is served the stale entry until the relay runs
        assert await _answered(db, reader, user.id) == "Before"
    return user.id


async def _no_stale_reads(db: Database, readers: list[Cache], user_id: str) -> None:
    names = [await _answered(db, reader, user_id) for _ in range(READS_AFTER) for reader in readers]
    assert names == ["After"] * (READS_AFTER * len(readers))


async def test_a_relay_loop_repairs_within_its_interval_and_a_second(
    db: Database, redis_server: RedisServer
) -> None:
    prefix = new_prefix()
    env = {
        "QULAB_DATABASE_URL": db.settings.database.url,
        "QULAB_REDIS_URL": redis_server.url,
        "QULAB_CACHE_PREFIX": prefix,
    }
    readers = [make_cache("redis", prefix, url=redis_server.url) for _ in range(2)]
    try:
        user_id = await _commit_while_redis_is_down(db, redis_server, readers, env)
        relay_settings = Settings().replace(
            database_url=db.settings.database.url,
            redis_url=redis_server.url,
            cache_prefix=prefix,
            relay_interval=RELAY_INTERVAL,
        )
        async with open_db(relay_settings) as relay_db:
            relay = Relay(relay_db, MemoryBroker(), listen=False)
            running = asyncio.create_task(relay.run())
            try:

                async def every_reader_sees_after() -> bool:
                    names = [await _answered(db, reader, user_id) for reader in readers]
                    return names == ["After"] * len(readers)

                await eventually(
                    every_reader_sees_after,
                    "every reader to be served the new name",
                    timeout=RELAY_INTERVAL + 1.0,
                )
                await _no_stale_reads(db, readers, user_id)
            finally:
                relay.stop()
                async with asyncio.timeout(30):
                    await running
        assert relay.totals.published == 2

        shown = await asyncio.to_thread(_qulab, env, "user", "show", user_id, "--json")
        assert shown.returncode == 0, shown.stderr
        assert orjson.loads(shown.stdout)["user"]["name"] == "After"
    finally:
        for reader in readers:
            await reader.close()


async def test_qulab_outbox_relay_once_repairs_the_stale_entry(
    db: Database, redis_server: RedisServer
) -> None:
    prefix = new_prefix()
    env = {
        "QULAB_DATABASE_URL": db.settings.database.url,
        "QULAB_REDIS_URL": redis_server.url,
        "QULAB_CACHE_PREFIX": prefix,
    }
    readers = [make_cache("redis", prefix, url=redis_server.url) for _ in range(2)]
    try:
        user_id = await _commit_while_redis_is_down(db, redis_server, readers, env)

        relay = await asyncio.to_thread(_qulab, env, "outbox", "relay", "--once", "--yes", "--json")

        assert relay.returncode == 0, relay.stderr
        assert orjson.loads(relay.stdout)["published"] == 2
        async with asyncio.timeout(1.0):
            names = [await _answered(db, reader, user_id) for reader in readers]
        assert names == ["After", "After"]
        await _no_stale_reads(db, readers, user_id)
    finally:
        for reader in readers:
            await reader.close()
