"""The read-through cache on real databases (SQLite and PostgreSQL) and real backends (Redis and
in-process): what it serves, when it forgets, and what it counts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from qulab.core.cache import Cache, Outcome
from qulab.core.db import Database
from qulab.core.errors import InvalidInput
from qulab.lab import create_sample_airscore
from qulab.platform.cache import (
    CachedUserRepository,
    read_latest_score_cached,
    read_user_cached,
    user_family,
)
from qulab.platform.events import UserUpdated
from qulab.platform.repositories import ScoreRepository, UserRepository
from qulab.platform.schemas import ScoreRead, UserRead
from qulab.platform.uow import PlatformUnitOfWork
from tests import services
from tests.cache_support import (
    delete_prefix,
    make_cache,
    new_prefix,
    stored_entry,
    subscribed_cache,
)
from tests.service_calls import create_user, delete_user, update_user


@pytest.fixture(params=["memory", "redis"])
def cache_kind(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        request.getfixturevalue("redis_url")
    return str(request.param)


@pytest.fixture
async def cache(cache_kind: str, db: Database) -> AsyncIterator[Cache]:
    async with subscribed_cache(cache_kind, db) as cache:
        yield cache


async def row(db: Database, user_id: str) -> UserRead:
    async with db.session() as session:
        return UserRead.model_validate(await UserRepository(session).get(user_id))


async def test_miss_then_hit_then_invalidate_then_miss_each_equal_to_the_row(
    db: Database, cache: Cache
) -> None:
    user = await create_user(db, email="ada@example.com", name="Ada")
    outcomes = []
    for step in ("read", "read", "invalidate", "read", "read"):
        if step == "invalidate":
            async with db.session() as session:
                await CachedUserRepository(session, cache).invalidate_user_cache(user.id)
            assert await stored_entry(cache, "user", user.id) is None
            continue
        result = await read_user_cached(db, cache, user.id)
        assert result.value == await row(db, user.id)
        outcomes.append(result.outcome)
    assert outcomes == [Outcome.MISS, Outcome.HIT, Outcome.MISS, Outcome.HIT]


async def test_latest_score_is_cached_and_a_committed_new_score_replaces_it(
    db: Database, cache: Cache
) -> None:
    user = await create_user(db, email="sc@example.com", name="Sc")
    first = await create_sample_airscore(user.id, db=db)
    assert (await read_latest_score_cached(db, cache, user.id)).outcome is Outcome.MISS
    hit = await read_latest_score_cached(db, cache, user.id)
    assert (hit.outcome, hit.value) == (Outcome.HIT, first)

    second = await create_sample_airscore(user.id, db=db)
    fresh = await read_latest_score_cached(db, cache, user.id)
    assert fresh.outcome is Outcome.MISS
    async with db.session() as session:
        latest = ScoreRead.model_validate(
            await ScoreRepository(session).get_latest_or_none(user.id)
        )
    assert fresh.value == latest
    assert latest.id in {first.id, second.id}


async def test_committed_update_is_served_fresh_on_the_next_cached_read(
    db: Database, cache: Cache
) -> None:
    user = await create_user(db, email="up@example.com", name="Before")
    await read_user_cached(db, cache, user.id)
    assert (await read_user_cached(db, cache, user.id)).outcome is Outcome.HIT

    await update_user(db, user.id, name="After")

    result = await read_user_cached(db, cache, user.id)
    assert result.outcome is Outcome.MISS
    assert result.value is not None and result.value.name == "After"
    assert result.value == await row(db, user.id)


async def test_rolled_back_update_invalidates_nothing(db: Database, cache: Cache) -> None:
    user = await create_user(db, email="rb@example.com", name="Committed")
    await read_user_cached(db, cache, user.id)
    entry_before = await stored_entry(cache, "user", user.id)
    assert entry_before is not None

    with pytest.raises(RuntimeError, match="abandon"):
        async with PlatformUnitOfWork(db) as uow:
            changed = await uow.users.get(user.id)
            changed.name = "Rolled back"
            await uow.session.flush()
            uow.record(UserUpdated(user.id, {"name": "Rolled back"}))
            raise RuntimeError("abandon the change")

    assert await stored_entry(cache, "user", user.id) == entry_before
    result = await read_user_cached(db, cache, user.id)
    assert result.outcome is Outcome.HIT
    assert result.value is not None and result.value.name == "Committed"
    assert result.value == await row(db, user.id)


async def test_deleted_user_is_not_served_from_the_cache(db: Database, cache: Cache) -> None:
    user = await create_user(db, email="del@example.com", name="Gone")
    await read_user_cached(db, cache, user.id)
    await delete_user(db, user.id)
    result = await read_user_cached(db, cache, user.id)
    assert (result.outcome, result.value) == (Outcome.MISS, None)


def paused_loader(
    session: AsyncSession, user_id: str, loaded: asyncio.Event, resume: asyncio.Event
) -> Callable[[], Awaitable[UserRead | None]]:
    """A database load that reads the row, signals ``loaded``, then waits for ``resume``."""

    async def load() -> UserRead | None:
        found = await UserRepository(session).get_one_or_none(user_id)
        loaded.set()
        await resume.wait()
        return None if found is None else UserRead.model_validate(found)

    return load


async def test_stale_set_race_never_leaves_a_stale_entry(db: Database, cache: Cache) -> None:
    """Reader loads the old row; the writer commits and invalidates; then the reader tries to
    store what it loaded. The generation check must refuse that store."""
    user = await create_user(db, email="race@example.com", name="Old")
    loaded, resume = asyncio.Event(), asyncio.Event()

    async with db.session() as session:
        slow_load = paused_loader(session, user.id, loaded, resume)
        reader = asyncio.create_task(cache.read_through(user_family(cache), user.id, slow_load))
        await loaded.wait()
        await update_user(db, user.id, name="New")  # commits, then invalidates
        resume.set()
        raced = await reader

    assert raced.value is not None and raced.value.name == "Old"  # what it read, not stored
    assert await stored_entry(cache, "user", user.id) is None
    after = await read_user_cached(db, cache, user.id)
    assert (after.outcome, after.value and after.value.name) == (Outcome.MISS, "New")
    again = await read_user_cached(db, cache, user.id)
    assert (again.outcome, again.value and again.value.name) == (Outcome.HIT, "New")


async def test_invalidation_during_a_flight_makes_later_readers_load_afresh(
    db: Database, cache: Cache
) -> None:
    user = await create_user(db, email="flight@example.com", name="Old")
    loaded, resume = asyncio.Event(), asyncio.Event()

    async with db.session() as session:
        slow_load = paused_loader(session, user.id, loaded, resume)
        first = asyncio.create_task(cache.read_through(user_family(cache), user.id, slow_load))
        await loaded.wait()
        await update_user(db, user.id, name="New")
        later = await read_user_cached(db, cache, user.id)  # must not join the old flight
        resume.set()
        await first

    assert later.value is not None and later.value.name == "New"


async def test_hundred_concurrent_cold_reads_load_from_the_database_once(
    db: Database, cache: Cache
) -> None:
    user = await create_user(db, email="burst@example.com", name="Burst")
    expected = await row(db, user.id)

    with db.count_statements() as counter:
        results = await asyncio.gather(*(read_user_cached(db, cache, user.id) for _ in range(100)))

    assert counter.count == 1
    assert all(result.value == expected for result in results)
    stats = (await cache.stats()).families["user"]
    assert stats.hits + stats.misses == 100
    assert stats.coalesced >= 1
    assert stats.sets == 1


@pytest.mark.parametrize(
    "bad",
    [
        b"not json at all",
        b'{"v": "UserRead/0/older-shape", "d": {"id": "x"}}',
        b'{"v": null}',
        b"[1, 2, 3]",
    ],
    ids=["garbage", "older-version", "foreign-envelope", "foreign-json"],
)
async def test_corrupt_or_foreign_value_is_a_miss_and_is_repaired(
    db: Database, cache: Cache, bad: bytes
) -> None:
    user = await create_user(db, email="bad@example.com", name="Bad")
    await cache.backend.set(cache.key(user_family(cache), user.id), bad, 60)

    result = await read_user_cached(db, cache, user.id)
    assert result.outcome is Outcome.MISS
    assert result.value == await row(db, user.id)
    repaired = await stored_entry(cache, "user", user.id)
    assert repaired is not None and orjson.loads(repaired)["d"]["name"] == "Bad"
    assert (await read_user_cached(db, cache, user.id)).outcome is Outcome.HIT
    assert (await cache.stats()).families["user"].corrupt == 1


async def test_not_found_is_not_cached_by_default(db: Database, cache: Cache) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    with db.count_statements() as counter:
        first = await read_user_cached(db, cache, missing)
        second = await read_user_cached(db, cache, missing)
    assert (first.value, second.value) == (None, None)
    assert (first.outcome, second.outcome) == (Outcome.MISS, Outcome.MISS)
    assert counter.count == 2


async def test_negative_caching_serves_not_found_without_the_database(
    db: Database, cache_kind: str
) -> None:
    prefix = new_prefix()
    cache = make_cache(cache_kind, prefix, negative_ttl=30)
    missing = "00000000-0000-4000-8000-000000000001"
    try:
        with db.count_statements() as counter:
            first = await read_user_cached(db, cache, missing)
            second = await read_user_cached(db, cache, missing)
        assert (first.outcome, second.outcome) == (Outcome.MISS, Outcome.HIT)
        assert second.value is None
        assert counter.count == 1
        assert (await cache.stats()).families["user"].negative_hits == 1
    finally:
        await cache.close()
        if cache_kind == "redis":
            await delete_prefix(services.REDIS_URL, prefix)


async def test_statistics_count_each_outcome_and_compute_the_formula(
    db: Database, cache: Cache
) -> None:
    user = await create_user(db, email="st@example.com", name="St")
    for _ in range(3):
        await read_user_cached(db, cache, user.id)
    await update_user(db, user.id, name="St2")
    await read_user_cached(db, cache, user.id)

    stats = (await cache.stats()).families["user"]
    assert (stats.hits, stats.misses, stats.sets, stats.invalidations) == (2, 2, 2, 1)
    assert stats.hit_ratio == pytest.approx(0.5)
    assert stats.hit_p50_s is not None and stats.miss_p95_s is not None
    # H*T_cache + (1-H)*(T_cache + T_database) equals the mean of what was measured, as long as
    # a miss took longer than a hit on average; on a machine busy enough to invert that, the
    # database time is clamped at 0 and the formula falls back to T_cache.
    assert stats.t_cache_s is not None and stats.t_database_s is not None
    if stats.t_database_s > 0:
        assert stats.t_avg_formula_s == pytest.approx(stats.t_avg_measured_s)
    else:
        assert stats.t_avg_formula_s == pytest.approx(stats.t_cache_s)

    await cache.reset_stats()
    cleared = (await cache.stats()).families["user"]
    assert (cleared.hits, cleared.misses, cleared.requests, cleared.hit_ratio) == (0, 0, 0, None)


async def test_statistics_are_shared_by_every_client_of_one_redis(
    db: Database, redis_url: str
) -> None:
    prefix = new_prefix()
    first, second = make_cache("redis", prefix), make_cache("redis", prefix)
    try:
        user = await create_user(db, email="sh@example.com", name="Shared")
        await read_user_cached(db, first, user.id)
        await read_user_cached(db, second, user.id)
        await first.flush_stats()
        stats = (await second.stats()).families["user"]
        assert (stats.hits, stats.misses) == (1, 1)
        assert (await second.stats()).scope.startswith("shared")
    finally:
        await first.close()
        await second.close()
        await delete_prefix(redis_url, prefix)


async def test_update_is_seen_by_a_second_client_sharing_the_redis(
    db: Database, redis_url: str
) -> None:
    prefix = new_prefix()
    writer_side, reader_side = make_cache("redis", prefix), make_cache("redis", prefix)
    writer_side.subscribe(db.bus)
    try:
        user = await create_user(db, email="two@example.com", name="Before")
        await read_user_cached(db, reader_side, user.id)
        assert (await read_user_cached(db, reader_side, user.id)).outcome is Outcome.HIT

        await update_user(db, user.id, name="After")  # invalidated through writer_side

        result = await read_user_cached(db, reader_side, user.id)
        assert result.outcome is Outcome.MISS
        assert result.value is not None and result.value.name == "After"
    finally:
        writer_side.unsubscribe(db.bus)
        await writer_side.close()
        await reader_side.close()
        await delete_prefix(redis_url, prefix)


async def test_malformed_id_is_rejected_before_the_cache_or_database(
    db: Database, cache: Cache
) -> None:
    with db.count_statements() as counter, pytest.raises(InvalidInput, match="user_id"):
        await read_user_cached(db, cache, "not-a-uuid")
    assert counter.count == 0
    assert (await cache.stats()).families["user"].requests == 0
