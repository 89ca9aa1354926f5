"""The chaos check's own record of every event written, for runs with the log-tailing relay.

In ``wal`` mode the relay deletes an event's row once the broker confirmed it, so the outbox no
longer says which events exist. The check must not trust the processes it kills for that, so it
keeps its own record in the scratch database: a trigger copies each new outbox row's id,
aggregate and sequence into ``chaos_events`` in the writer's transaction. An event is published
when its row is gone, or marked ``published``.
"""

from __future__ import annotations

from qulab.core import Database, OutboxRepository

RECORD = (
    """
CREATE TABLE chaos_events (
    id varchar(36) PRIMARY KEY,
    aggregate_type varchar(100) NOT NULL,
    aggregate_id varchar(36) NOT NULL,
    sequence bigint NOT NULL
)
""",
    """
CREATE FUNCTION chaos_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO chaos_events VALUES (NEW.id, NEW.aggregate_type, NEW.aggregate_id, NEW.sequence);
    RETURN NEW;
END
$$
""",
    """
CREATE TRIGGER chaos_record AFTER INSERT ON domain_events
FOR EACH ROW EXECUTE FUNCTION chaos_record()
""",
)
RECORDED = "SELECT id, aggregate_type, aggregate_id, sequence FROM chaos_events"


async def keep_record(db: Database) -> None:
    """Start recording every event written to the scratch database (PostgreSQL)."""
    async with db.connect() as conn, conn.begin():
        for statement in RECORD:
            await conn.exec_driver_sql(statement)


async def recorded_positions(db: Database) -> dict[str, tuple[str, str, int, str]]:
    """Every event ever written: (aggregate type, aggregate id, sequence, status), the status
    ``published`` for an event whose row the relay deleted."""
    async with db.connect() as conn:
        recorded = (await conn.exec_driver_sql(RECORDED)).all()
        present = await OutboxRepository(conn).positions()
    return {
        str(i): (str(t), str(a), int(n), present[i][3] if i in present else "published")
        for i, t, a, n in recorded
    }
