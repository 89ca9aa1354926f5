"""The cache on a Redis Cluster (``redis+cluster://``), on the private three-master cluster of
the test session: read-through, entries and generations in one slot, invalidations across
slots, single flight, a master failover during reads, and the relay's repair."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
import pytest
from redis.asyncio.cluster import RedisCluster as ClusterClient

from qulab.core.cache import Cache, CircuitBreaker, Outcome
from qulab.core.cache.redis_backend import redis_backend
from qulab.core.db import Database
from qulab.core.redis_cluster import cluster_client
from qulab.platform import read_models
from qulab.platform.cache import read_user_cached, user_family, user_keys
from qulab.platform.schemas import UserRead
from tests import services
from tests.cache_support import FAMILIES, new_prefix
from tests.redis_cluster import RedisCluster, delete_cluster_prefix
from tests.service_calls import create_user, update_user
from tests.waiting import eventually

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])  # the database is not the subject

READERS = 200
READS_AFTER = 50
PROCESS_TIMEOUT = 60


def cluster_cache(url: str, prefix: str, *, reset_seconds: float = 30.0) -> Cache:
    breaker = CircuitBreaker("test cluster", failure_threshold=2, reset_seconds=reset_seconds)
    return Cache(redis_backend(url), families=FAMILIES, prefix=prefix, breaker=breaker)


@pytest.fixture
async def client(redis_cluster: RedisCluster) -> AsyncIterator[ClusterClient]:
    """A plain cluster client, to look at what the cache stored."""
    plain = cluster_client(redis_cluster.url)
    try:
        yield plain
    finally:
        await plain.aclose()


@pytest.fixture
async def cache(redis_cluster: RedisCluster, db: Database) -> AsyncIterator[Cache]:
    """A cache on the cluster under a prefix of its own, subscribed to ``db``'s bus; its keys
    are removed afterwards."""
    prefix = new_prefix()
    built = cluster_cache(redis_cluster.url, prefix)
    built.subscribe(db.bus)
    try:
        yield built
    finally:
        built.unsubscribe(db.bus)
        await built.close()
        await delete_cluster_prefix(redis_cluster.url, prefix)


async def keyslot(client: ClusterClient, key: str) -> int:
    return int(await client.cluster_keyslot(key))


async def test_reads_miss_then_hit_and_an_entry_shares_its_generations_slot(
    db: Database, cache: Cache, client: ClusterClient
) -> None:
    user = await create_user(db, email="slot@example.com", name="Slot")
    first = await read_user_cached(db, cache, user.id)
    second = await read_user_cached(db, cache, user.id)

    assert [first.outcome, second.outcome] == [Outcome.MISS, Outcome.HIT]
    assert first.value == second.value == user
    key = f"{cache.prefix}{{user:{user.id}}}"
    assert first.key == key
    stored = await client.get(key)
    assert stored is not None and orjson.loads(stored)["d"]["name"] == "Slot"
    gen_key = cache.generation_key(key)
    assert gen_key == f"{cache.prefix}gen:{{user:{user.id}}}"
    assert await keyslot(client, key) == await keyslot(client, gen_key)
    score_key = f"{cache.prefix}{{latest_airscore:{user.id}}}"
    assert user_keys(cache, user.id) == [key, score_key]
    assert await keyslot(client, score_key) == await keyslot(
        client, cache.generation_key(score_key)
    )


async def test_an_update_bumps_the_generation_and_the_next_read_sees_it(
    db: Database, cache: Cache, client: ClusterClient
) -> None:
    user = await create_user(db, email="bump@example.com", name="Before")
    await read_user_cached(db, cache, user.id)
    key = f"{cache.prefix}{{user:{user.id}}}"
    before = await client.get(cache.generation_key(key))

    await update_user(db, user.id, name="After")

    assert await client.get(key) is None
    after = await client.get(cache.generation_key(key))
    assert after is not None and int(after) == int(before or 0) + 1
    assert not cache.pending_invalidations
    stats = await cache.stats()
    assert [stats.families[name].invalidations for name in ("user", "latest_airscore")] == [1, 1]
    assert set(stats.families) == {"user", "latest_airscore"}  # counted under the families
    miss = await read_user_cached(db, cache, user.id)
    hit = await read_user_cached(db, cache, user.id)
    assert [(r.outcome, r.value and r.value.name) for r in (miss, hit)] == [
        (Outcome.MISS, "After"),
        (Outcome.HIT, "After"),
    ]


async def test_one_invalidation_of_keys_on_every_master_bumps_each_in_its_slot(
    db: Database, cache: Cache, client: ClusterClient, redis_cluster: RedisCluster
) -> None:
    idents = [f"u{n}" for n in range(30)]
    keys = [cache.key(user_family(cache), ident) for ident in idents]
    for key in keys:
        await client.set(key, b"stale entry")
    masters = {redis_cluster.master_of(key) for key in keys}
    assert len(masters) == 3  # the keys span the whole cluster

    await cache.invalidate(user_family(cache), idents)

    assert not cache.pending_invalidations
    assert [await client.get(key) for key in keys] == [None] * len(keys)
    assert [await client.get(cache.generation_key(key)) for key in keys] == [b"1"] * len(keys)


async def test_a_stampede_on_a_cold_key_costs_one_database_statement(
    db: Database, cache: Cache
) -> None:
    user = await create_user(db, email="herd@example.com", name="Herd")

    with db.count_statements() as statements:
        results = await asyncio.gather(
            *(read_user_cached(db, cache, user.id) for _ in range(READERS))
        )

    assert statements.count == 1
    assert [result.value for result in results] == [user] * READERS
    assert (await read_user_cached(db, cache, user.id)).outcome is Outcome.HIT


async def test_readers_after_another_clients_invalidation_never_join_the_earlier_load(
    db: Database, redis_cluster: RedisCluster, client: ClusterClient
) -> None:
    """A load is held after reading the old row; another client of the cluster commits and
    invalidates; readers arriving then learn of it from the generation and load again."""
    prefix = new_prefix()
    reader_side = cluster_cache(redis_cluster.url, prefix)
    writer_side = cluster_cache(redis_cluster.url, prefix)
    writer_side.subscribe(db.bus)
    user = await create_user(db, email="herd2@example.com", name="Old")
    loads, first_loaded, resume = [], asyncio.Event(), asyncio.Event()

    async def load() -> UserRead | None:
        async with db.reading() as session:
            value = await read_models.user_by_id(await session.connection(), user.id)
        loads.append(value and value.name)
        if len(loads) == 1:
            first_loaded.set()
            await resume.wait()
        return value

    def readers() -> list[asyncio.Task[str | None]]:
        async def read() -> str | None:
            result = await reader_side.read_through(user_family(reader_side), user.id, load)
            return None if result.value is None else result.value.name

        return [asyncio.create_task(read()) for _ in range(READERS // 2)]

    try:
        before = readers()
        await first_loaded.wait()
        await update_user(db, user.id, name="New")  # invalidated through writer_side only
        after = readers()
        resume.set()
        await asyncio.gather(*before)
        names_after = await asyncio.gather(*after)

        assert names_after == ["New"] * (READERS // 2)
        assert loads == ["Old", "New"]
        settled = await read_user_cached(db, reader_side, user.id)
        assert (settled.outcome, settled.value and settled.value.name) == (Outcome.HIT, "New")
    finally:
        writer_side.unsubscribe(db.bus)
        await reader_side.close()
        await writer_side.close()
        await delete_cluster_prefix(redis_cluster.url, prefix)


async def test_a_master_failover_during_reads_bypasses_then_recovers_with_no_stale_read(
    db: Database, redis_cluster: RedisCluster, client: ClusterClient
) -> None:
    """The master holding a cached user is killed; its replica takes over. Reads meanwhile
    come from the database; a write meanwhile is invalidated once the new master answers;
    from then on the cache serves hits again, and never the old name."""
    prefix = new_prefix()
    cache = cluster_cache(redis_cluster.url, prefix, reset_seconds=0.2)
    cache.subscribe(db.bus)
    user = await create_user(db, email="failover@example.com", name="Before")
    key = cache.key(user_family(cache), user.id)
    master = redis_cluster.master_of(key)
    assert master is not None
    replica = redis_cluster.replica_of(master)
    served: list[tuple[Outcome, str | None]] = []

    async def read() -> Outcome:
        result = await read_user_cached(db, cache, user.id)
        served.append((result.outcome, None if result.value is None else result.value.name))
        return result.outcome

    try:
        assert [await read(), await read()] == [Outcome.MISS, Outcome.HIT]
        await eventually(
            lambda: redis_cluster.replica_has(replica, key), "the entry to reach the replica"
        )

        redis_cluster.kill_node(master)
        assert await read() is Outcome.BYPASS  # the master is gone: the database answers
        await update_user(db, user.id, name="After")
        assert key in cache.pending_invalidations  # kept until a master takes it
        written = len(served)

        async def promoted() -> bool:
            await read()  # readers go on meanwhile
            return redis_cluster.master_of(key, asking=replica) == replica

        await eventually(promoted, "the replica to be promoted", timeout=30)
        await eventually(
            lambda: _served_by_cache(read), "the cache to serve reads again", timeout=30
        )
        assert not cache.pending_invalidations
        for _ in range(READS_AFTER):
            await read()

        after = served[written:]
        assert {name for _, name in after} == {"After"}  # 0 stale, during and after
        assert after[-READS_AFTER:] == [(Outcome.HIT, "After")] * READS_AFTER
        assert Outcome.BYPASS in {outcome for outcome, _ in after}
        assert (await client.get(key)) is not None  # the new master holds the new entry
    finally:
        cache.unsubscribe(db.bus)
        await cache.close()
        await asyncio.to_thread(redis_cluster.restore)
        await delete_cluster_prefix(redis_cluster.url, prefix)


async def _served_by_cache(read: Callable[[], Awaitable[Outcome]]) -> bool:
    return await read() is not Outcome.BYPASS


def _qulab(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qulab", *args],
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
        check=False,
    )


async def test_the_relay_repairs_an_invalidation_a_writer_could_not_deliver_to_the_cluster(
    db: Database, redis_cluster: RedisCluster, client: ClusterClient
) -> None:
    """Readers hold "Before" on the cluster; a writer process that cannot reach the cluster
    commits "After" and exits; ``qulab outbox relay --once`` repairs the invalidation."""
    prefix = new_prefix()
    readers = [cluster_cache(redis_cluster.url, prefix) for _ in range(2)]
    env = {"QULAB_DATABASE_URL": db.settings.database.url, "QULAB_CACHE_PREFIX": prefix}
    unreachable = f"redis+cluster://127.0.0.1:{services.free_port()}"
    try:
        user = await create_user(db, email="repair@example.com", name="Before")
        for reader in readers:
            await read_user_cached(db, reader, user.id)

        writer = await asyncio.to_thread(
            _qulab, env | {"QULAB_REDIS_URL": unreachable}, "user", "update", user.id,
            "--name", "After",
        )  # fmt: skip
        assert writer.returncode == 0, writer.stderr
        stale = [await read_user_cached(db, reader, user.id) for reader in readers]
        assert [(r.outcome, r.value and r.value.name) for r in stale] == [
            (Outcome.HIT, "Before")
        ] * 2  # what the relay is there to repair

        relay = await asyncio.to_thread(
            _qulab, env | {"QULAB_REDIS_URL": redis_cluster.url},
            "outbox", "relay", "--once", "--yes", "--json",
        )  # fmt: skip

        assert relay.returncode == 0, relay.stderr
        assert orjson.loads(relay.stdout)["published"] == 2
        names = [
            (await read_user_cached(db, reader, user.id)).value
            for _ in range(READS_AFTER)
            for reader in readers
        ]
        assert {name and name.name for name in names} == {"After"}  # 0 stale
    finally:
        for reader in readers:
            await reader.close()
        await delete_cluster_prefix(redis_cluster.url, prefix)


async def test_an_invalidation_keeps_its_commit_position_on_every_slot(
    backend: str, redis_cluster: RedisCluster, client: ClusterClient
) -> None:
    """The cache guard's floor (a commit's WAL position) travels with each slot's bump."""
    prefix = new_prefix()
    cluster = redis_backend(redis_cluster.url)
    gen_keys = [f"{prefix}gen:{{user:{n}}}" for n in range(12)]
    try:
        assert len({await keyslot(client, key) for key in gen_keys}) > 1
        await cluster.bump_generations(gen_keys, [], 60, floor=200)
        await cluster.bump_generations(gen_keys, [], 60)  # a repair without a position
        for key in gen_keys:
            generation = await cluster.get_generation(key)
            assert generation is not None and generation.endswith(b"@200"), key
    finally:
        await cluster.close()
        await delete_cluster_prefix(redis_cluster.url, prefix)
