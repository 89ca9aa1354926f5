"""Driver failures come out of the data layer as QuLab's errors, on both databases."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text

from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.core.errors import ConfigurationError, PoolExhausted, SchemaMissing, ServiceUnavailable
from qulab.platform.views import get_user, list_users
from tests.service_calls import create_user
from tests.waiting import eventually


@pytest.fixture
def tiny_pool(settings: Settings) -> Database:
    """The test's database behind a pool of one connection that gives up after 0.2 s."""
    narrow = settings.replace(pool_size=1, max_overflow=0, pool_timeout=0.2)
    return Database(narrow)


async def test_reads_raise_pool_exhausted_when_no_connection_is_free(
    db: Database, tiny_pool: Database
) -> None:
    user = await create_user(db, email="dry@example.com", name="Dry")
    try:
        async with tiny_pool.engine.connect() as held:
            await held.execute(text("SELECT 1"))
            with pytest.raises(PoolExhausted, match="pool exhausted"):
                await list_users(tiny_pool)
            with pytest.raises(PoolExhausted):
                await get_user(tiny_pool, user.id)
        assert [u.id for u in await list_users(tiny_pool)] == [user.id]
    finally:
        await tiny_pool.dispose()


@pytest.fixture
def empty_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A database of the parametrized backend without any table."""
    if backend == "postgresql":
        return str(request.getfixturevalue("fresh_pg_url"))
    return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"


async def test_a_database_without_tables_raises_schema_missing(empty_url: str) -> None:
    url = empty_url
    db = Database(Settings().replace(database_url=url))
    try:
        with pytest.raises(SchemaMissing, match="run `qulab db upgrade`"):
            await list_users(db)
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_statement_timeout_is_set_on_the_server_and_cancels_a_slow_statement(
    settings: Settings,
) -> None:
    db = Database(settings.replace(db_statement_timeout=0.5))
    try:
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("SHOW statement_timeout"))).scalar() == "500ms"
        async with asyncio.timeout(10):
            with pytest.raises(ServiceUnavailable, match="statement timeout"):
                async with db.session_scope() as session:
                    await session.execute(text("SELECT pg_sleep(5)"))
    finally:
        await db.dispose()


async def test_a_connection_terminated_mid_statement_is_service_unavailable(
    fresh_pg_url: str,
) -> None:
    db = Database(Settings().replace(database_url=fresh_pg_url))
    admin = await asyncpg.connect(fresh_pg_url.replace("+asyncpg", ""), timeout=5)
    name = fresh_pg_url.rpartition("/")[2]
    sleeping = (
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'SELECT pg_sleep%'"
    )

    async def terminate_the_sleeper() -> None:
        rows = await eventually(
            lambda: admin.fetch(sleeping, name), "pg_sleep to be running", timeout=10
        )
        await admin.execute("SELECT pg_terminate_backend($1)", rows[0]["pid"])

    killer = asyncio.create_task(terminate_the_sleeper())
    try:
        with pytest.raises(ServiceUnavailable, match="database unreachable"):
            async with db.session_scope() as session:
                await session.execute(text("SELECT pg_sleep(10)"))
        await killer
        async with db.session_scope() as session:  # the pool recovers by itself
            assert (await session.execute(text("SELECT 1"))).scalar() == 1
    finally:
        killer.cancel()
        await admin.close()
        await db.dispose()


def test_an_unopenable_sqlite_file_fails_before_aiosqlite_starts_a_thread(tmp_path: Path) -> None:
    """aiosqlite's worker thread, once started for a file it cannot open, calls back into the
    event loop after the command has closed it ("Event loop is closed" on stderr)."""
    db = Database(
        Settings().replace(database_url=f"sqlite+aiosqlite:///{tmp_path / 'no' / 'x.db'}")
    )
    started: set[str] = set()

    def record(*_: object) -> None:
        started.add(threading.current_thread().name)

    async def read() -> None:
        try:
            await list_users(db)
        finally:
            await db.dispose()

    threading.settrace(record)
    try:
        with pytest.raises(ConfigurationError, match="cannot open the SQLite file"):
            asyncio.run(read())
    finally:
        threading.settrace(None)
    assert not {name for name in started if "connection_worker" in name}
