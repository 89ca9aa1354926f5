"""Cancellation inside a single flight: a reader that gives up leaves the others waiting for the
shared load; a load that is cancelled leaves its followers to load for themselves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from qulab.core.cache import Cache
from qulab.core.db import Database
from qulab.platform.cache import user_family
from qulab.platform.schemas import UserRead
from tests.cache_support import subscribed_cache
from tests.service_calls import create_user
from tests.waiting import eventually


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest, db: Database) -> AsyncIterator[Cache]:
    if request.param == "redis":
        request.getfixturevalue("redis_url")
    async with subscribed_cache(str(request.param), db) as cache:
        yield cache


class HeldLoad:
    """Returns ``value``; the first call waits for ``release`` after signalling ``started``."""

    def __init__(self, value: UserRead) -> None:
        self.value = value
        self.calls = 0
        self.started, self.release = asyncio.Event(), asyncio.Event()

    async def __call__(self) -> UserRead:
        self.calls += 1
        if self.calls == 1:
            self.started.set()
            await self.release.wait()
        return self.value


async def _coalesced(cache: Cache, followers: int) -> bool:
    return (await cache.stats()).families["user"].coalesced >= followers


async def test_a_follower_that_gives_up_leaves_the_others_their_shared_load(
    db: Database, cache: Cache
) -> None:
    user = await create_user(db, email="quit@example.com", name="Quit")
    load = HeldLoad(user)
    first = asyncio.create_task(cache.read_through(user_family(cache), user.id, load))
    await load.started.wait()
    followers = [
        asyncio.create_task(cache.read_through(user_family(cache), user.id, load))
        for _ in range(10)
    ]
    await eventually(lambda: _coalesced(cache, 10), "10 followers on the load", interval=0)

    followers[0].cancel()
    load.release.set()
    results = await asyncio.gather(first, *followers[1:])

    assert followers[0].cancelled()
    assert [result.value for result in results] == [user] * 10
    assert load.calls == 1


async def test_followers_of_a_cancelled_load_load_for_themselves(
    db: Database, cache: Cache
) -> None:
    user = await create_user(db, email="gone@example.com", name="Gone")
    load = HeldLoad(user)
    first = asyncio.create_task(cache.read_through(user_family(cache), user.id, load))
    await load.started.wait()
    followers = [
        asyncio.create_task(cache.read_through(user_family(cache), user.id, load))
        for _ in range(10)
    ]
    await eventually(lambda: _coalesced(cache, 10), "10 followers on the load", interval=0)

    first.cancel()
    results = await asyncio.gather(*followers)

    assert first.cancelled()
    assert [result.value for result in results] == [user] * 10
    assert load.calls == 2  # the cancelled one, and one for all the followers
