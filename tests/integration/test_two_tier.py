"""The two-tier cache: two clients, each with its own L1 over one shared L2, stay coherent
through the invalidation broadcast, and an L1 is emptied when its channel drops and again
when it is back."""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from qulab.core.cache.backends import RedisBackend
from qulab.core.db import Database
from qulab.lab.strategies import (
    RedisChannel,
    RowRead,
    ScratchRows,
    StrategyFactory,
    Tier,
    TwoTierCache,
)
from tests import services
from tests.cache_support import delete_prefix, new_prefix
from tests.tcp_proxy import TcpProxy
from tests.waiting import eventually

# PostgreSQL runs with Redis (hence the mark), SQLite with the in-process cache.
WITH_REDIS = pytest.param("postgresql", marks=pytest.mark.redis)


@pytest.fixture(params=["sqlite", WITH_REDIS])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def l2_url(backend: str, request: pytest.FixtureRequest) -> str | None:
    """Redis for the shared tier on PostgreSQL; none (in process) on SQLite."""
    return str(request.getfixturevalue("redis_url")) if backend == "postgresql" else None


@pytest.fixture
async def factory(db: Database, l2_url: str | None) -> AsyncIterator[StrategyFactory]:
    rows = ScratchRows(db, 3)
    await rows.create()
    made = StrategyFactory(
        rows, redis_url=l2_url, prefix=new_prefix(), ttl=60, rng=random.Random(1)
    )
    try:
        yield made
    finally:
        await rows.drop()
        await made.clear()


async def test_an_invalidation_by_one_client_drops_the_other_clients_l1_copy(
    factory: StrategyFactory,
) -> None:
    rows = factory.rows
    first, second = factory.two_tier_cache("tt"), factory.two_tier_cache("tt")
    await first.start()
    await second.start()
    try:
        loaded = await first.get("r0", lambda: rows.load("r0"))
        from_l2 = await second.get("r0", lambda: rows.load("r0"))
        from_l1 = await second.get("r0", lambda: rows.load("r0"))
        await rows.write("r0", 1)
        await first.invalidate("r0")
        await eventually(
            lambda: second.key("r0") not in second.local_keys(),
            "the L1 copy to be dropped",
            interval=0.001,
        )
        after = await second.get("r0", lambda: rows.load("r0"))
    finally:
        await first.close()
        await second.close()
    assert [loaded.tier, from_l2.tier, from_l1.tier] == [Tier.DATABASE, Tier.L2, Tier.L1]
    assert from_l1.value is not None and from_l1.value.version == 0
    assert after.value is not None and (after.value.version, after.tier) == (1, Tier.DATABASE)
    assert rows.loads == 2
    assert second.dropped == 1 and len(second.latencies) == 1


async def test_a_fill_that_began_before_an_invalidation_it_hears_later_stays_out_of_l1(
    factory: StrategyFactory,
) -> None:
    rows = factory.rows
    writer, reader = factory.two_tier_cache("tt"), factory.two_tier_cache("tt")
    await writer.start()
    await reader.start()
    gate, release = asyncio.Event(), asyncio.Event()

    async def slow_load() -> RowRead | None:
        value = await rows.load("r0")
        gate.set()
        await release.wait()
        return value

    try:
        pending = asyncio.create_task(reader.get("r0", slow_load))
        await gate.wait()  # the reader holds version 0, not stored yet
        await rows.write("r0", 1)
        await writer.invalidate("r0")
        await eventually(
            lambda: reader.dropped == 0 and len(reader.latencies) == 1,
            "the invalidation to be heard",
            interval=0.001,
        )
        release.set()
        served = await pending
        again = await reader.get("r0", lambda: rows.load("r0"))
    finally:
        await writer.close()
        await reader.close()
    assert served.value is not None and served.value.version == 0
    assert reader.local_keys() == [reader.key("r0")]  # filled by the second read, not the first
    assert again.value is not None and (again.value.version, again.tier) == (1, Tier.DATABASE)


@pytest.mark.parametrize("backend", [WITH_REDIS])
async def test_l1_is_emptied_when_the_channel_drops_and_again_when_it_is_back(
    factory: StrategyFactory,
) -> None:
    """The second client's channel runs through a proxy: cutting it loses the invalidation
    sent meanwhile, and the client must not keep serving its L1 copy."""
    rows = factory.rows
    parts = urlsplit(services.REDIS_URL)
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379).start()
    channel_name = f"{factory.space('tt')}tt:invalidations"
    first = factory.two_tier_cache("tt")
    second = TwoTierCache(
        RedisBackend(services.REDIS_URL),
        RedisChannel(f"redis://127.0.0.1:{proxy.port}/0", channel_name, retry_seconds=0.05),
        RowRead,
        prefix=factory.space("tt"),
        ttl=60,
    )
    assert isinstance(second.channel, RedisChannel)
    await first.start()
    await second.start()
    try:
        await second.get("r0", lambda: rows.load("r0"))
        await second.get("r1", lambda: rows.load("r1"))
        assert sorted(second.local_keys()) == [second.key("r0"), second.key("r1")]
        proxy.cut()
        await eventually(
            lambda: not second.channel.connected, "the channel to notice the cut", interval=0.001
        )
        assert second.local_keys() == []
        during = await second.get("r1", lambda: rows.load("r1"))  # served by L2, not kept
        assert during.tier is Tier.L2 and second.local_keys() == []
        await rows.write("r0", 1)
        await first.invalidate("r0")  # the second client never hears this one
        proxy.heal()
        await eventually(lambda: second.channel.connected, "the channel to be back", interval=0.001)
        after = await second.get("r0", lambda: rows.load("r0"))
    finally:
        await first.close()
        await second.close()
        await proxy.close()
    assert after.value is not None and after.value.version == 1
    assert second.channel.resets == 1


CHILD = """
import asyncio, sys
from qulab.core.cache.backends import RedisBackend
from qulab.lab.strategies import RedisChannel, RowRead, TwoTierCache

async def main(url: str, prefix: str) -> None:
    cache = TwoTierCache(
        RedisBackend(url), RedisChannel(url, prefix + "invalidations"), RowRead,
        prefix=prefix, ttl=60,
    )
    await cache.start()
    dropped = asyncio.Event()
    cache.listeners.append(lambda message: dropped.set())

    async def load() -> RowRead:
        return RowRead(id="r0", version=0, payload="child")

    await cache.get("r0", load)
    first = await cache.get("r0", load)
    print("ready", first.tier, flush=True)
    await asyncio.wait_for(dropped.wait(), 30)
    print("dropped", cache.local_keys(), f"{cache.latencies[-1] * 1000:.3f}", flush=True)
    await cache.close()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_another_process_drops_its_l1_copy_when_this_one_invalidates(redis_url: str) -> None:
    prefix = new_prefix()
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        redis_url,
        prefix,
        stdout=asyncio.subprocess.PIPE,
    )
    here = TwoTierCache(
        RedisBackend(redis_url),
        RedisChannel(redis_url, f"{prefix}invalidations"),
        RowRead,
        prefix=prefix,
        ttl=60,
    )
    await here.start()
    try:
        assert child.stdout is not None
        async with asyncio.timeout(60):
            ready = (await child.stdout.readline()).decode().split()
            assert ready == ["ready", "L1"]
            await here.invalidate("r0")
            dropped = (await child.stdout.readline()).decode().split(maxsplit=2)
            assert await child.wait() == 0
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        await here.close()
        await delete_prefix(redis_url, prefix)
    assert dropped[0] == "dropped" and dropped[1] == "[]"
    assert float(dropped[2]) >= 0  # send-to-receipt latency, as the other process measured it
