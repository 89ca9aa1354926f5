"""Revision 0002: the migrated schema is exactly the models', and it downgrades cleanly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.lab.migrate import LAB_MIGRATIONS
from qulab.lab.models import LabBase
from qulab.platform import migrate
from qulab.platform.models import METADATA
from tests.outbox_helpers import all_events, emit_events


def _not_the_labs_version_table(name: str | None, type_: str, parents: object) -> bool:
    return not (type_ == "table" and name == LAB_MIGRATIONS.version_table)


def _diff(connection: Connection) -> list[object]:
    """What differs between the test database (the platform's schema and the lab's) and the
    models of both."""
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_name": _not_the_labs_version_table}
    )
    every = [*METADATA, LabBase.metadata]
    return list(compare_metadata(context, every))  # type: ignore[arg-type]  # a list, as Alembic's target_metadata


def _columns(connection: Connection) -> set[str]:
    return {column["name"] for column in inspect(connection).get_columns("domain_events")}


async def test_upgrade_head_yields_exactly_the_models_schema(db: Database) -> None:
    async with db.engine.connect() as conn:
        assert await conn.run_sync(_diff) == []


async def test_downgrade_to_0001_and_back_keeps_events_in_creation_order(
    settings: Settings,
) -> None:
    database = Database(settings)
    try:
        await migrate.upgrade(database)
        async with database.engine.begin() as conn:
            await conn.execute(text("DELETE FROM domain_events"))
        ids = await emit_events(database, 5, per_transaction=1)
        await migrate.downgrade(database, "0001")
        async with database.engine.connect() as conn:
            columns = await conn.run_sync(_columns)
        assert not {"sequence", "attempts", "last_error", "next_attempt_at"} & columns

        await migrate.upgrade(database)
        events = await all_events(database)
        assert [e.id for e in events] == ids
        assert [e.sequence for e in events] == [1, 2, 3, 4, 5]
        assert {e.attempts for e in events} == {0}
        more = await emit_events(database, 1)
        assert (await all_events(database))[-1].id == more[0]
    finally:
        async with database.engine.begin() as conn:
            await conn.execute(text("DELETE FROM domain_events"))
        await database.dispose()
