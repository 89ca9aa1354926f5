"""Stampedes of one cold key: one database load for everyone who may share it, and never a value
loaded before an invalidation the reader had already seen (in this process or another)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from qulab.core.cache import Cache, Outcome
from qulab.core.db import Database
from qulab.platform.cache import read_user_cached, user_family
from qulab.platform.repositories import UserRepository
from qulab.platform.schemas import UserRead
from tests.cache_support import delete_prefix, make_cache, new_prefix, subscribed_cache
from tests.service_calls import create_user, update_user

READERS = 200


@pytest.fixture(params=["memory", "redis"])
def cache_kind(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        request.getfixturevalue("redis_url")
    return str(request.param)


@pytest.fixture
async def cache(cache_kind: str, db: Database) -> AsyncIterator[Cache]:
    # What these tests count is sharing, not failing open: a loaded machine's pause longer than
    # the backend's 0.25 s read timeout would turn a lookup into a bypass, and its reader would
    # load on its own (a second load that is the fail-open path working, not a stampede).
    async with subscribed_cache(cache_kind, db, socket_timeout=5.0) as cache:
        yield cache


class Loader:
    """Loads the row in a session of its own and counts the loads; the first one, once it has
    read the row, waits until ``resume`` is set."""

    def __init__(self, db: Database, user_id: str) -> None:
        self.db, self.user_id = db, user_id
        self.loads = 0
        self.first_loaded, self.resume = asyncio.Event(), asyncio.Event()

    async def __call__(self) -> UserRead | None:
        self.loads += 1
        first = self.loads == 1
        async with self.db.session() as session:
            found = await UserRepository(session).get_one_or_none(self.user_id)
            value = None if found is None else UserRead.model_validate(found)
        if first:
            self.first_loaded.set()
            await self.resume.wait()
        return value


def readers(
    cache: Cache, user_id: str, load: Callable[[], Awaitable[UserRead | None]], n: int
) -> list[asyncio.Task[str | None]]:
    async def read() -> str | None:
        result = await cache.read_through(user_family(cache), user_id, load)
        return None if result.value is None else result.value.name

    return [asyncio.create_task(read()) for _ in range(n)]


async def test_two_hundred_readers_of_one_cold_key_load_it_once(db: Database, cache: Cache) -> None:
    user = await create_user(db, email="herd@example.com", name="Herd")

    with db.count_statements() as statements:
        results = await asyncio.gather(
            *(read_user_cached(db, cache, user.id) for _ in range(READERS))
        )

    assert statements.count == 1
    assert [result.value for result in results] == [user] * READERS
    assert (await read_user_cached(db, cache, user.id)).outcome is Outcome.HIT


async def test_readers_arriving_after_an_invalidation_never_get_the_earlier_load(
    db: Database, cache: Cache
) -> None:
    """Half the herd arrives while the first load is held after reading the old row; then a
    commit and its invalidation; then the other half. The second half must all see the new
    row, from one more load; the old load must not be stored."""
    user = await create_user(db, email="herd2@example.com", name="Old")
    load = Loader(db, user.id)

    before = readers(cache, user.id, load, READERS // 2)
    await load.first_loaded.wait()
    await update_user(db, user.id, name="New")  # commits, then invalidates
    after = readers(cache, user.id, load, READERS // 2)
    load.resume.set()
    names_before, names_after = await asyncio.gather(
        asyncio.gather(*before), asyncio.gather(*after)
    )

    assert names_after == ["New"] * (READERS // 2)  # 0 stale
    assert set(names_before) <= {"Old", "New"}
    assert load.loads == 2
    settled = await read_user_cached(db, cache, user.id)
    assert (settled.outcome, settled.value and settled.value.name) == (Outcome.HIT, "New")


async def test_an_invalidation_by_another_process_is_never_missed_by_later_readers(
    db: Database,
    redis_url: str,
) -> None:
    """The same race across two clients of one Redis: this process's load is in flight when
    another process commits and invalidates. Readers here that start afterwards learn of it
    from Redis (the generation) and do not join the earlier load."""
    prefix = new_prefix()
    reader_side, writer_side = make_cache("redis", prefix), make_cache("redis", prefix)
    writer_side.subscribe(db.bus)
    try:
        user = await create_user(db, email="herd3@example.com", name="Old")
        load = Loader(db, user.id)

        before = readers(reader_side, user.id, load, READERS // 2)
        await load.first_loaded.wait()
        await update_user(db, user.id, name="New")  # invalidated through writer_side only
        after = readers(reader_side, user.id, load, READERS // 2)
        load.resume.set()
        await asyncio.gather(*before)
        names_after = await asyncio.gather(*after)

        assert names_after == ["New"] * (READERS // 2)
        assert load.loads == 2
        settled = await read_user_cached(db, reader_side, user.id)
        assert (settled.outcome, settled.value and settled.value.name) == (Outcome.HIT, "New")
    finally:
        writer_side.unsubscribe(db.bus)
        await writer_side.close()
        await reader_side.close()
        await delete_prefix(redis_url, prefix)
