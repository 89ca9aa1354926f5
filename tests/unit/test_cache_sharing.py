"""What the cache may share between readers: one decoded read model only when nothing in it can
be changed, and one result per flight, which a waiter can leave without the others."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, ConfigDict

from qulab.core.cache import codec
from qulab.core.cache.sharing import ABANDONED, Shared
from qulab.platform.schemas import ScoreRead, UserRead


class _Mutable(BaseModel):
    name: str


class _FrozenWithList(BaseModel):
    model_config = ConfigDict(frozen=True)
    tags: list[str]


def test_only_frozen_models_of_immutable_fields_are_shared() -> None:
    assert codec.shareable(UserRead)
    assert not codec.shareable(ScoreRead)  # calculation_metadata is a dict
    assert not codec.shareable(_Mutable)
    assert not codec.shareable(_FrozenWithList)


async def test_every_waiter_gets_the_result_and_one_may_leave_alone() -> None:
    shared: Shared[int] = Shared()
    waiters = [asyncio.create_task(shared.wait()) for _ in range(3)]
    await asyncio.sleep(0)  # let them start waiting

    waiters[0].cancel()
    shared.set_result(7)

    assert await asyncio.gather(*waiters[1:]) == [7, 7]
    assert waiters[0].cancelled()
    assert await shared.wait() == 7  # a late waiter gets it at once


async def test_a_cancelled_flight_is_abandoned_and_a_failed_one_fails_its_waiters() -> None:
    abandoned: Shared[int] = Shared()
    waiter = asyncio.create_task(abandoned.wait())
    await asyncio.sleep(0)
    abandoned.set_exception(asyncio.CancelledError())
    assert await waiter is ABANDONED

    failed: Shared[int] = Shared()
    waiter = asyncio.create_task(failed.wait())
    await asyncio.sleep(0)
    failed.set_exception(LookupError("gone"))
    assert isinstance((await asyncio.gather(waiter, return_exceptions=True))[0], LookupError)
