from __future__ import annotations

import asyncio

import pytest

from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.core.errors import PoolExhausted
from qulab.lab import compare_pooling, demonstrate_pool_exhaustion, run_load
from qulab.platform.repositories import users_statement
from qulab.platform.services import seeding


async def seeded_ids(db: Database, users: int = 5) -> list[str]:
    await seeding.seed(db, users, 2, marker="pool")
    async with db.session() as session:
        rows = await session.execute(users_statement(where=seeding.seeded_users("pool")))
        return [user.id for user in rows.scalars()]


async def test_every_request_succeeds_and_peak_stays_within_the_pool(
    db: Database, settings: Settings
) -> None:
    ids = await seeded_ids(db)
    limited = settings.replace(pool_size=2, max_overflow=1)

    result = await compare_pooling(limited, ids, concurrency=6, requests=30)

    for run in (result.pooled, result.null_pool):
        assert run.requests == 30
        assert len(run.latencies_s) == 30
        assert run.checkouts == 30
    assert 1 <= result.pooled.peak_checked_out <= 2 + 1
    assert result.pooled.pool_size == 2 and result.pooled.max_overflow == 1
    assert result.pooled.overflow_used is not None and result.pooled.overflow_used <= 1
    assert result.pooled.connects <= 3  # warm pool: reused, never more than its capacity
    assert result.null_pool.connects == 30  # a fresh connection per request
    assert result.null_pool.pool_size is None


async def test_each_run_records_its_pool_moving_at_every_checkout_and_checkin(
    db: Database, settings: Settings
) -> None:
    ids = await seeded_ids(db)
    limited = settings.replace(pool_size=2, max_overflow=1)

    result = await compare_pooling(limited, ids, concurrency=6, requests=30)

    for run in (result.pooled, result.null_pool):
        assert len(run.timeline) == 2 * run.checkouts == 60
        times = [at for at, _ in run.timeline]
        assert times == sorted(times)
        counts = [count for _, count in run.timeline]
        assert max(counts) == run.peak_checked_out
        assert counts[-1] == 0 and min(counts) >= 0
    assert max(count for _, count in result.pooled.timeline) <= 3


async def test_load_run_reports_the_concurrency_it_reached(
    db: Database, settings: Settings
) -> None:
    ids = await seeded_ids(db)
    pooled = Database(settings.replace(pool_size=4, max_overflow=0))
    try:
        run = await run_load(pooled, "pooled", ids, concurrency=4, requests=40)
    finally:
        await pooled.dispose()
    assert run.peak_checked_out <= 4
    assert run.throughput > 0
    assert run.p50_s <= run.p95_s


async def test_exhausted_pool_ends_in_pool_exhausted_for_each_extra_holder(
    db: Database, settings: Settings
) -> None:
    result = await asyncio.wait_for(
        demonstrate_pool_exhaustion(
            settings, pool_size=2, max_overflow=0, holders=5, pool_timeout=0.3
        ),
        timeout=10,  # a hang fails the test instead of blocking it
    )
    assert result.acquired == 2
    assert result.timed_out == 3
    assert result.error is not None and "pool exhausted" in result.error
    assert all(o.error is None for o in result.outcomes if o.acquired)


async def test_waiting_on_a_full_pool_raises_pool_exhausted(settings: Settings) -> None:
    db = Database(settings.replace(pool_size=1, max_overflow=0, pool_timeout=0.2))
    try:
        async with db.session() as holder:
            await holder.connection()
            with pytest.raises(PoolExhausted, match="pool exhausted"):
                await asyncio.wait_for(_use_connection(db), timeout=10)
    finally:
        await db.dispose()


async def _use_connection(db: Database) -> None:
    async with db.session_scope() as session:
        await session.connection()
