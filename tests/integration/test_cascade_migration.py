"""Revision 0003: the user foreign keys cascade deletes, and the revision downgrades cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, insert, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.engine.interfaces import ReflectedForeignKeyConstraint

from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.core.ids import new_id
from qulab.core.models import DomainEvent, utcnow
from qulab.lab import create_sample_airscore
from qulab.platform import migrate
from qulab.platform.models import AIRScore, Assessment, User
from tests.outbox_helpers import emit_events

CHILDREN = ("assessments", "air_scores")


@pytest.fixture
def empty_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "postgresql":
        return str(request.getfixturevalue("fresh_pg_url"))
    return f"sqlite+aiosqlite:///{tmp_path / 'cascade.db'}"


def _user_keys(connection: Connection) -> dict[str, list[ReflectedForeignKeyConstraint]]:
    inspector = inspect(connection)
    return {table: inspector.get_foreign_keys(table) for table in CHILDREN}


async def user_keys(db: Database) -> dict[str, tuple[str, list[str], str | None]]:
    """Each child table's one foreign key: (referred table, columns, ON DELETE action)."""
    async with db.engine.connect() as conn:
        keys = await conn.run_sync(_user_keys)
    summary = {}
    for table, found in keys.items():
        [key] = found
        ondelete = key["options"].get("ondelete")
        summary[table] = (
            key["referred_table"],
            key["constrained_columns"],
            ondelete.upper() if ondelete else None,
        )
    return summary


async def count(db: Database, model: type) -> int:
    async with db.session() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_at_head_the_user_keys_cascade_deletes(empty_url: str) -> None:
    db = Database(Settings().replace(database_url=empty_url))
    try:
        await migrate.upgrade(db)
        assert await user_keys(db) == {
            table: ("users", ["user_id"], "CASCADE") for table in CHILDREN
        }
    finally:
        await db.dispose()


async def test_downgrade_to_0002_restores_plain_keys_and_upgrade_keeps_every_row(
    empty_url: str,
) -> None:
    db = Database(Settings().replace(database_url=empty_url))
    try:
        await migrate.upgrade(db, "0002")
        # Written as revision 0002's code wrote them (today's writer records columns 0002 lacks).
        user_id, now = new_id(), utcnow()
        async with db.engine.begin() as conn:
            await conn.execute(
                insert(User).values(
                    id=user_id, email="kept@example.com", name="Kept", created_at=now
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO assessments (id, user_id, status, component, current_ability,"
                    " items_administered, created_at, updated_at) VALUES ('a1', :user_id,"
                    " 'in_progress', 'fluency', 0, 0, :now, :now)"
                ),
                {"user_id": user_id, "now": now},
            )
        await migrate.upgrade(db)
        for _ in range(2):
            await create_sample_airscore(user_id, db=db)

        await migrate.downgrade(db, "0002")
        assert await user_keys(db) == {table: ("users", ["user_id"], None) for table in CHILDREN}
        assert (await count(db, Assessment), await count(db, AIRScore)) == (1, 2)

        await migrate.upgrade(db)
        assert {key[2] for key in (await user_keys(db)).values()} == {"CASCADE"}
        assert (await count(db, Assessment), await count(db, AIRScore)) == (1, 2)
        events_before = await count(db, DomainEvent)
        await emit_events(db, 1)
        assert await count(db, DomainEvent) == events_before + 1
        async with db.engine.begin() as conn:
            await conn.execute(text("DELETE FROM users WHERE id = :id"), {"id": user_id})
        assert (await count(db, Assessment), await count(db, AIRScore)) == (0, 0)
    finally:
        await db.dispose()
