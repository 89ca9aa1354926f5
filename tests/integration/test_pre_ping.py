"""Pre-ping only idle connections: pings counted, a connection dropped while idle replaced."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.core.errors import ServiceUnavailable
from tests.waiting import eventually

READS = 5


@pytest.fixture
def one_connection(pg_database_url: str) -> Callable[..., Database]:
    """A Database on the test run's PostgreSQL with a pool of exactly one connection."""

    def build(**settings: Any) -> Database:
        return Database(
            Settings().replace(
                database_url=pg_database_url, pool_size=1, max_overflow=0, **settings
            )
        )

    return build


@pytest.fixture
async def admin(pg_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(pg_database_url.replace("+asyncpg", ""), timeout=5)
    try:
        yield conn
    finally:
        await conn.close()


async def _backend_pid(db: Database) -> int:
    async with db.read_connection() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(admin: asyncpg.Connection, pid: int) -> None:
    """Kill the backend on the server and wait until it is gone."""
    assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)

    async def gone() -> bool:
        return not await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid)

    await eventually(gone, f"backend {pid} to be gone", timeout=10, interval=0.01)


async def test_a_connection_reused_within_the_idle_window_is_not_pinged(
    one_connection: Callable[..., Database],
) -> None:
    db = one_connection(db_pre_ping_idle_seconds=3600)
    try:
        pids = {await _backend_pid(db) for _ in range(READS)}
        stats = db.pre_ping
        assert stats is not None
        # The first checkout opened the connection (never pinged); the others reused it.
        assert (stats.pings, stats.skipped, stats.replaced) == (0, READS - 1, 0)
        assert len(pids) == 1
    finally:
        await db.dispose()


async def test_an_idle_window_of_zero_pings_every_reused_checkout(
    one_connection: Callable[..., Database],
) -> None:
    db = one_connection(db_pre_ping_idle_seconds=0)
    try:
        for _ in range(READS):
            await _backend_pid(db)
        stats = db.pre_ping
        assert stats is not None
        assert (stats.pings, stats.skipped, stats.replaced) == (READS - 1, 0, 0)
        assert stats.seconds > 0 and stats.mean_ping_seconds == stats.seconds / stats.pings
        with db.count_statements() as counter:  # a ping is not a statement of the caller's
            await _backend_pid(db)
        assert counter.count == 1 and stats.pings == READS
    finally:
        await db.dispose()


async def test_an_idle_connection_killed_on_the_server_is_replaced_transparently(
    one_connection: Callable[..., Database], admin: asyncpg.Connection
) -> None:
    db = one_connection(db_pre_ping_idle_seconds=0)
    try:
        before = await _backend_pid(db)
        await _terminate(admin, before)

        after = await _backend_pid(db)  # no error: the ping found it dead and replaced it

        assert after != before
        stats = db.pre_ping
        assert stats is not None and (stats.pings, stats.replaced) == (1, 1)
        assert db.pool_status().checked_out == 0
    finally:
        await db.dispose()


async def test_a_connection_killed_within_the_idle_window_fails_once_then_recovers(
    one_connection: Callable[..., Database], admin: asyncpg.Connection
) -> None:
    """The price of skipping the ping: the first statement on it fails, one line, and the pool
    replaces the connection for the next caller."""
    db = one_connection(db_pre_ping_idle_seconds=3600)
    try:
        before = await _backend_pid(db)
        await _terminate(admin, before)

        with pytest.raises(ServiceUnavailable, match="database unreachable"):
            await _backend_pid(db)
        assert await _backend_pid(db) != before
    finally:
        await db.dispose()


async def test_pre_ping_off_installs_nothing(one_connection: Callable[..., Database]) -> None:
    db = one_connection(pool_pre_ping=False)
    try:
        await _backend_pid(db)
        assert db.pre_ping is None
    finally:
        await db.dispose()
