from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select, text

from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.core.errors import PoolExhausted
from qulab.platform.errors import DuplicateEmailError
from qulab.platform.models import User
from tests.service_calls import create_user
from tests.waiting import eventually


@pytest.fixture
async def pg_db(pg_database_url: str) -> AsyncIterator[Database]:
    database = Database(
        Settings().replace(database_url=pg_database_url, pool_size=10, max_overflow=20)
    )
    async with database.engine.begin() as conn:
        await conn.execute(text("TRUNCATE users, air_scores, assessments, domain_events CASCADE"))
    yield database
    await database.dispose()


async def test_fifty_concurrent_creates_with_one_email_leave_exactly_one_user(
    pg_db: Database,
) -> None:
    results = await asyncio.gather(
        *(create_user(pg_db, email="race@example.com", name=f"Racer {i}") for i in range(50)),
        return_exceptions=True,
    )
    created = [r for r in results if not isinstance(r, BaseException)]
    duplicates = [r for r in results if isinstance(r, DuplicateEmailError)]
    assert len(created) == 1
    assert len(duplicates) == 49
    async with pg_db.session() as session:
        count = (await session.execute(select(func.count(User.id)))).scalar_one()
    assert count == 1


async def test_thirty_concurrent_sessions_complete_within_pool_and_overflow(db: Database) -> None:
    peak = 0

    async def hold() -> int:
        nonlocal peak
        async with db.session() as session:
            await session.execute(text("SELECT 1"))
            checked_out = db.pool_status().checked_out or 0
            peak = max(peak, checked_out)
            await asyncio.sleep(0.05)
            return int((await session.execute(text("SELECT 1"))).scalar_one())

    results = await asyncio.gather(*(hold() for _ in range(30)))
    assert results == [1] * 30
    status = db.pool_status()
    assert status.size == 10 and status.max_overflow == 20
    assert 1 <= peak <= 30
    assert status.checked_out == 0


async def test_exhausted_pool_raises_a_clear_error_after_its_timeout(
    backend: str, settings: Settings
) -> None:
    small = Database(settings.replace(pool_size=2, max_overflow=0, pool_timeout=0.3))
    release = asyncio.Event()
    holding = 0

    async def hold() -> None:
        nonlocal holding
        async with small.session() as session:
            await session.execute(text("SELECT 1"))
            holding += 1
            await release.wait()

    holders = [asyncio.create_task(hold()) for _ in range(2)]
    try:
        await eventually(lambda: holding == 2, "both holders to check out a connection")
        with pytest.raises(PoolExhausted, match="pool"):
            async with small.session_scope() as session:
                await session.execute(text("SELECT 1"))
    finally:
        release.set()
        await asyncio.gather(*holders)
        await small.dispose()
