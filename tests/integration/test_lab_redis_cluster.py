"""The lab on a Redis Cluster (``redis+cluster://``), on the private cluster of the test session:
the Redis explorer describes keys and channels from every master, the broker log of a chaos run
reads and removes its streams across slots, and the caching strategies run there, each row's
keys on one slot, two-tier's invalidations heard through the cluster."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from redis.asyncio.cluster import RedisCluster as ClusterClient

from qulab.core.cache import Cache
from qulab.core.cache.redis_backend import redis_backend
from qulab.core.config import get_settings
from qulab.core.db import Database
from qulab.core.redis_cluster import cluster_client, slot_of
from qulab.entrypoints.cli import main
from qulab.lab.broker_log import RedisNamespace, broker_namespace
from qulab.lab.redis_keys import scan_keys
from qulab.lab.redis_structures import redis_view
from qulab.lab.strategies import STRATEGY_NAMES, ScratchRows, StrategyFactory, Tier
from qulab.platform.cache import invalidate_user, read_user_cached
from tests.cache_support import FAMILIES, new_prefix
from tests.redis_cluster import RedisCluster, delete_cluster_prefix
from tests.service_calls import create_user
from tests.waiting import eventually

AGGREGATES = ("User", "AIRScore", "Assessment")


@pytest.fixture
async def client(redis_cluster: RedisCluster) -> AsyncIterator[ClusterClient]:
    plain = cluster_client(redis_cluster.url, decode_responses=True)
    try:
        yield plain
    finally:
        await plain.aclose()


@pytest.fixture
async def prefixes(redis_cluster: RedisCluster) -> AsyncIterator[tuple[str, str, str]]:
    """A cache prefix, a stream prefix and a prefix QuLab is not told about; all removed."""
    made = (new_prefix(), new_prefix(), new_prefix())
    yield made
    for prefix in made:
        await delete_cluster_prefix(redis_cluster.url, prefix)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_the_explorer_lists_entries_generations_streams_and_channels_of_every_master(
    db: Database,
    redis_cluster: RedisCluster,
    client: ClusterClient,
    prefixes: tuple[str, str, str],
) -> None:
    cache_prefix, stream_prefix, foreign = prefixes
    cache = Cache(redis_backend(redis_cluster.url), families=FAMILIES, prefix=cache_prefix)
    users = [await create_user(db, email=f"u{n}@example.com", name=f"User {n}") for n in range(6)]
    channel = f"{cache_prefix}two-tier:invalidations"
    listener = client.pubsub()
    try:
        for user in users:
            await read_user_cached(db, cache, user.id)
        await invalidate_user(cache, users[0].id)
        await cache.flush_stats()
        streams = [f"{stream_prefix}outbox.event.{kind}" for kind in AGGREGATES]
        for stream in streams:
            await client.xadd(stream, {"id": stream})
        await client.xgroup_create(streams[0], "score-summary", id="0")
        await client.set(f"{foreign}{{user:1}}", "not QuLab's")
        await listener.subscribe(channel)

        view = await redis_view(redis_cluster.url, cache_prefix, stream_prefix)
    finally:
        await listener.aclose()
        await cache.close()

    by_key = {thing.key: thing for thing in view.things}
    entries = {f"{cache_prefix}{{user:{user.id}}}" for user in users[1:]}
    assert entries <= {thing.key for thing in view.of_role("entry")}
    assert len({slot_of(key) for key in entries}) > 1  # spread over several slots
    generation = by_key[f"{cache_prefix}gen:{{user:{users[0].id}}}"]
    assert (generation.role, generation.redis_type, generation.encoding) == (
        "generation",
        "string",
        "int",
    )
    assert all(thing.redis_type == "hash" for thing in view.of_role("counters"))
    assert [thing.key for thing in view.of_role("stream")] == sorted(streams)
    assert [(g.name, g.consumers) for g in by_key[streams[0]].groups] == [("score-summary", 0)]
    assert (by_key[channel].redis_type, by_key[channel].subscribers) == ("pub/sub channel", 1)
    assert view.address == redis_cluster.url
    assert not any(key.startswith(foreign) for key in by_key)


async def test_the_broker_log_reads_each_stream_and_removes_only_its_namespace(
    redis_cluster: RedisCluster, client: ClusterClient, prefixes: tuple[str, str, str]
) -> None:
    namespace = broker_namespace(redis_cluster.url, AGGREGATES, "cluster")
    assert isinstance(namespace, RedisNamespace)
    assert len({slot_of(stream) for stream in namespace.streams}) > 1
    foreign = f"{prefixes[2]}outbox.event.User"
    await client.xadd(foreign, {"id": "not this run's"})
    try:
        for number, stream in enumerate(namespace.streams):
            for entry in range(2):
                await client.xadd(stream, {"id": f"event-{number}-{entry}"})

        published = await namespace.read()
        await namespace.remove()
    finally:
        await delete_cluster_prefix(redis_cluster.url, namespace.prefix)

    assert published == [f"event-{n}-{e}" for n in range(len(AGGREGATES)) for e in range(2)]
    assert [await client.exists(stream) for stream in namespace.streams] == [0, 0, 0]
    assert await client.xlen(foreign) == 1


@pytest.fixture
async def factory(db: Database, redis_cluster: RedisCluster) -> AsyncIterator[StrategyFactory]:
    """The strategies over three scratch rows, on the cluster under a prefix of their own."""
    rows = ScratchRows(db, 3)
    await rows.create()
    prefix = new_prefix()
    made = StrategyFactory(
        rows, redis_url=redis_cluster.url, prefix=prefix, ttl=60, rng=random.Random(1)
    )
    try:
        yield made
    finally:
        await rows.drop()
        await made.clear()
        await delete_cluster_prefix(redis_cluster.url, prefix)


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("name", STRATEGY_NAMES)
async def test_each_strategy_serves_a_hit_and_then_the_written_version_on_the_cluster(
    factory: StrategyFactory, client: ClusterClient, name: str
) -> None:
    strategy = await factory.build(name)
    try:
        first = await strategy.read("r0")
        again = await strategy.read("r0")
        await strategy.write("r0", 1)
        after = await strategy.read("r0")
        stored = [key async for key in scan_keys(client, f"{factory.prefix}*", 100)]
    finally:
        await strategy.close()
    assert first.value is not None and (first.value.version, first.hit) == (0, False)
    assert again.hit
    newest = 0 if name == "ttl-only" else 1  # ttl-only serves its entry until it expires
    assert after.value is not None and after.value.version == newest
    row_keys = [str(key) for key in stored if "r0" in str(key)]
    assert row_keys and len({slot_of(key) for key in row_keys}) == 1  # one slot per row


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_an_invalidation_reaches_the_other_two_tier_client_through_the_cluster(
    factory: StrategyFactory,
) -> None:
    rows = factory.rows
    first, second = factory.two_tier_cache("tt"), factory.two_tier_cache("tt")
    await first.start()
    await second.start()
    try:
        await first.get("r0", lambda: rows.load("r0"))
        await second.get("r0", lambda: rows.load("r0"))
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
    assert (from_l1.tier, after.tier) == (Tier.L1, Tier.DATABASE)
    assert after.value is not None and after.value.version == 1
    assert second.dropped == 1


def test_cache_compare_runs_every_strategy_on_the_cluster_and_leaves_no_key(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    redis_cluster: RedisCluster,
    capsys: pytest.CaptureFixture[str],
) -> None:
    prefix = new_prefix()
    monkeypatch.setenv("QULAB_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'compare.db'}")
    monkeypatch.setenv("QULAB_REDIS_URL", redis_cluster.url)
    monkeypatch.setenv("QULAB_CACHE_PREFIX", prefix)
    get_settings.cache_clear()
    try:
        code = main(["cache", "compare", "--ops", "200", "--keys", "10", "--json"])
    finally:
        get_settings.cache_clear()
    results = orjson.loads(capsys.readouterr().out)

    async def left() -> list[str]:
        client = cluster_client(redis_cluster.url)
        try:
            return [str(key) async for key in scan_keys(client, f"{prefix}*", 100)]
        finally:
            await client.aclose()

    remaining = asyncio.run(left())
    asyncio.run(delete_cluster_prefix(redis_cluster.url, prefix))
    assert code == 0
    assert [result["strategy"] for result in results] == list(STRATEGY_NAMES)
    assert all(result["reads"] + result["writes"] == 200 for result in results)
    assert all(result["hits"] > 0 for result in results)  # served by the cluster
    assert remaining == []
