"""Revision 0004: the transaction id column, its indexes and the lease tables come and go."""

from __future__ import annotations

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.platform import migrate
from tests.outbox_helpers import emit_events, emit_events_as_before_0007, txids


def _shape(connection: Connection) -> tuple[set[str], set[str], set[str]]:
    inspector = inspect(connection)
    columns = {column["name"] for column in inspector.get_columns("domain_events")}
    indexes = {index["name"] or "" for index in inspector.get_indexes("domain_events")}
    return columns, indexes, set(inspector.get_table_names())


async def test_downgrade_to_0003_and_back(settings: Settings) -> None:
    database = Database(settings)
    try:
        await migrate.upgrade(database)
        async with database.engine.begin() as conn:
            await conn.execute(text("DELETE FROM domain_events"))
        await migrate.downgrade(database, "0003")
        async with database.engine.connect() as conn:
            columns, indexes, tables = await conn.run_sync(_shape)
        assert "txid" not in columns
        assert not {"ix_events_pending_txid", "ix_events_retrying_aggregate"} & indexes
        assert "ix_events_status_created" in indexes
        assert not {"outbox_relays", "outbox_leases"} & tables
        before = await emit_events_as_before_0007(database, 2)

        await migrate.upgrade(database)
        async with database.engine.connect() as conn:
            columns, indexes, tables = await conn.run_sync(_shape)
        assert "txid" in columns
        assert {"ix_events_pending_txid", "ix_events_retrying_aggregate"} <= indexes
        assert {"outbox_relays", "outbox_leases"} <= tables
        after = await emit_events(database, 1)
        written = await txids(database)
        assert [written[i] for i in before] == [0, 0]  # written before: committed long ago
        if database.dialect == "postgresql":
            assert written[after[0]] > 0  # the writing transaction's id
        else:
            assert written[after[0]] == 0
    finally:
        async with database.engine.begin() as conn:
            await conn.execute(text("DELETE FROM domain_events"))
        await database.dispose()
