"""Revision 0006 adds ``lab_progress`` and its downgrade removes it, leaving 0005's tables."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.platform import migrate


@pytest.fixture
def empty_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "postgresql":
        return str(request.getfixturevalue("fresh_pg_url"))
    return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_0006_adds_lab_progress_and_its_downgrade_removes_only_that(empty_url: str) -> None:
    db = Database(Settings().replace(database_url=empty_url))
    try:
        await migrate.upgrade(db, "0005")
        before = await _tables(db)
        assert "lab_progress" not in before

        await migrate.upgrade(db)
        assert migrate.head_revision() == "0006"
        assert await _tables(db) == before | {"lab_progress"}
        async with db.engine.connect() as conn:
            key = await conn.run_sync(lambda c: inspect(c).get_pk_constraint("lab_progress"))
        assert key["constrained_columns"] == ["learner", "page", "question_id"]

        await migrate.downgrade(db, "0005")
        assert await _tables(db) == before
        assert await migrate.current_revision(db) == "0005"
    finally:
        await db.dispose()
