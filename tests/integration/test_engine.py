from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import AsyncAdaptedQueuePool, StaticPool

from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.platform import migrate
from qulab.platform.views import list_users
from tests.service_calls import create_user


async def test_sqlite_file_connections_use_wal_busy_timeout_and_foreign_keys(
    tmp_path: Path,
) -> None:
    db = Database(Settings().replace(database_url=f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"))
    try:
        assert isinstance(db.engine.sync_engine.pool, AsyncAdaptedQueuePool)
        async with db.engine.connect() as conn:
            mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
            busy = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()
            fks = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar_one()
        assert (mode, busy, fks) == ("wal", 5000, 1)
    finally:
        await db.dispose()


async def test_sqlite_memory_shares_one_connection_across_sessions() -> None:
    db = Database(Settings().replace(database_url="sqlite+aiosqlite:///:memory:"))
    try:
        assert isinstance(db.engine.sync_engine.pool, StaticPool)
        await migrate.upgrade(db)
        await create_user(db, email="mem@example.com", name="Mem")
        assert [u.email for u in await list_users(db)] == ["mem@example.com"]
    finally:
        await db.dispose()


async def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(IntegrityError):
        async with db.session_scope() as session:
            await session.execute(
                text(
                    "INSERT INTO assessments (id, user_id, status, component, current_ability,"
                    " items_administered, created_at, updated_at) VALUES (:id, :uid, 'x', 'c',"
                    " 0, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"id": "a" * 36, "uid": "b" * 36},
            )


async def test_pool_status_reports_checked_out_connections(db: Database) -> None:
    async with db.session() as session:
        await session.execute(text("SELECT 1"))
        during = db.pool_status()
    after = db.pool_status()
    assert during.checked_out == 1
    assert after.checked_out == 0
    assert during.kind == "AsyncAdaptedQueuePool"


async def test_statement_counter_keeps_statement_text(db: Database) -> None:
    with db.count_statements() as counter:
        await list_users(db)
    assert counter.count == 1
    assert counter.statements[0].startswith("SELECT users.id")


async def test_description_names_the_database_without_credentials(db: Database) -> None:
    assert "@" not in db.description
    assert db.description.startswith(("SQLite", "PostgreSQL"))
