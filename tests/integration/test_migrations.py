from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.platform import migrate
from qulab.platform.models import METADATA


@pytest.fixture
def empty_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "postgresql":
        return str(request.getfixturevalue("fresh_pg_url"))
    return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, list(METADATA)))  # type: ignore[arg-type]  # a list, as Alembic's target_metadata


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


async def test_upgrade_head_matches_the_models_exactly(empty_url: str) -> None:
    db = Database(Settings().replace(database_url=empty_url))
    try:
        await migrate.upgrade(db)
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            indexes = await conn.run_sync(
                lambda c: {i["name"] for i in inspect(c).get_indexes("domain_events")}
            )
        assert "ix_events_status_created" in indexes
        assert await migrate.is_up_to_date(db)
    finally:
        await db.dispose()


async def test_downgrade_to_base_removes_every_table_and_upgrade_restores_them(
    empty_url: str,
) -> None:
    db = Database(Settings().replace(database_url=empty_url))
    try:
        await migrate.upgrade(db)
        await migrate.downgrade(db, "base")
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_tables) == set()
        assert await migrate.current_revision(db) is None
        await migrate.upgrade(db)
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_tables) == {
                name for metadata in METADATA for name in metadata.tables
            }
    finally:
        await db.dispose()
