"""``WalRepository``: the statements of the log-tailing relay (PostgreSQL, ``wal_level=logical``).

The slot and its publication share one name (``QULAB_RELAY_SLOT``). Names are validated by the
settings' pattern and still passed as parameters, or quoted by the dialect where SQL needs an
identifier (``CREATE PUBLICATION``). Its statements on ``domain_events`` are the outbox
repository's (the table's one owner), and none updates it on the hot path: a published batch
costs one statement (the DELETE of its rows and of their failure records and the UPDATE of the
slot's counter row, as data-modifying WITH queries); only a dead letter sets its event's status
(so that polling relays and ``outbox replay`` see it). The stream itself is
:mod:`.wal_stream`'s; here are the relay's marks in the log and the check that streamed
transactions are visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from qulab.core import tracing
from qulab.core.db import Database
from qulab.core.errors import ConfigurationError
from qulab.core.outbox.message import OutboxMessage
from qulab.core.outbox.repository import MAX_ERROR, OutboxRepository

LOCK_PREFIX = "qulab.outbox.wal:"
MARK_PREFIX = "qulab.outbox.mark"
RETRYING, HELD, FAILED = "retrying", "held", "failed"

WAL_LEVEL = text("SELECT current_setting('wal_level')")
PUBLICATION_EXISTS = text("SELECT 1 FROM pg_publication WHERE pubname = :slot")
SLOT = text(
    """
SELECT database, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint,
       active, confirmed_flush_lsn::text
FROM pg_replication_slots WHERE slot_name = :slot
"""
)
CREATE_SLOT = text("SELECT lsn::text FROM pg_create_logical_replication_slot(:slot, 'pgoutput')")
DROP_SLOT = text("SELECT pg_drop_replication_slot(:slot)")
SLOT_ROW = text(
    """
INSERT INTO outbox_wal_slots (slot, published, drained, confirmed_lsn, created_at, updated_at)
VALUES (:slot, 0, false, :lsn, :now, :now)
ON CONFLICT (slot) DO UPDATE SET drained = false, confirmed_lsn = :lsn, updated_at = :now
"""
)
DRAINED = text("SELECT drained FROM outbox_wal_slots WHERE slot = :slot")
MARK_DRAINED = text(
    "UPDATE outbox_wal_slots SET drained = true, updated_at = :now WHERE slot = :slot"
)
TRY_LOCK = text("SELECT pg_try_advisory_lock(hashtext(:key))")
UNLOCK = text("SELECT pg_advisory_unlock(hashtext(:key))")
MARK = text("SELECT pg_logical_emit_message(true, :prefix, CAST(:token AS text))::text")
# Whether these transactions (pgoutput's 32-bit ids, given their epoch from the snapshot's xmax)
# are visible to a snapshot taken now: committed is not yet visible for the moment between a
# commit's flush, when the stream may already send it, and its end in the process array.
VISIBLE = text(
    """
SELECT coalesce(bool_and(pg_visible_in_snapshot(CAST(CAST(greatest(0,
        (CAST(CAST(pg_snapshot_xmax(s) AS text) AS bigint) >> 32 << 32) + x
        - CASE WHEN x > (CAST(CAST(pg_snapshot_xmax(s) AS text) AS bigint) & 4294967295)
          THEN 4294967296 ELSE 0 END) AS text) AS xid8), s)), true)
FROM pg_current_snapshot() AS s, unnest(CAST(:xids AS bigint[])) AS x
"""
)
HELD_AGGREGATES = text(
    """
SELECT DISTINCT aggregate_id FROM outbox_failures
WHERE status <> 'failed' AND aggregate_id = ANY(CAST(:ids AS varchar[]))
"""
)
ADD_FAILURE = text(
    """
INSERT INTO outbox_failures
    (event_id, aggregate_id, sequence, status, attempts, last_error, next_attempt_at, updated_at)
VALUES (:event_id, :aggregate_id, :sequence, :status, :attempts, :error, :next, :now)
ON CONFLICT (event_id) DO NOTHING
"""
)
SET_FAILURE = text(
    """
UPDATE outbox_failures SET status = :status, attempts = :attempts, last_error = :error,
       next_attempt_at = :next, updated_at = :now
WHERE event_id = :event_id
"""
)
ANY_OPEN = text("SELECT EXISTS (SELECT 1 FROM outbox_failures WHERE status <> 'failed')")
RETRYING_COUNT = text("SELECT count(*) FROM outbox_failures WHERE status = 'retrying'")
PUBLISHED_TOTAL = text("SELECT coalesce(sum(published), 0) FROM outbox_wal_slots")


@dataclass(frozen=True)
class SlotInfo:
    """A replication slot as PostgreSQL reports it: how much WAL it keeps (bytes from its
    restart position to the current one), whether a session is decoding it, where it stands."""

    slot: str
    retained_bytes: int
    active: bool
    confirmed_lsn: str | None


@dataclass(frozen=True)
class OpenFailure:
    """An event the retry pass may publish: its failure record and the message to send."""

    status: str  # retrying, held, or failed (a dead letter put back to pending: a fresh start)
    attempts: int
    next_attempt_at: datetime | None
    message: OutboxMessage

    @property
    def replayed(self) -> bool:
        return self.status == FAILED


class WalRepository:
    """The slot, its publication, the owner's lock, decoding, the failures record, counters."""

    def __init__(self, conn: AsyncConnection, slot: str) -> None:
        self.conn = conn
        self.slot = slot

    async def _scalar(self, statement: Any, **params: Any) -> Any:
        return (await self.conn.execute(statement, {"slot": self.slot, **params})).scalar()

    # -- setting up ----------------------------------------------------------------------------

    async def check_wal_level(self) -> None:
        level = await self._scalar(WAL_LEVEL)
        if level != "logical":
            raise ConfigurationError(
                f"QULAB_RELAY_MODE=wal needs PostgreSQL's wal_level=logical (it is {level}); "
                "set it in postgresql.conf and restart the server, or use QULAB_RELAY_MODE=polling"
            )

    async def ensure_publication(self) -> None:
        if await self._scalar(PUBLICATION_EXISTS) is None:
            await OutboxRepository(self.conn).create_publication(self.slot)

    async def info(self) -> SlotInfo | None:
        """The slot (None when it does not exist). A slot of that name in another database of
        the cluster is a configuration error: slot names are cluster-wide."""
        row = (await self.conn.execute(SLOT, {"slot": self.slot})).first()
        if row is None:
            return None
        database = await self.conn.scalar(text("SELECT current_database()"))
        if row[0] != database:
            raise ConfigurationError(
                f"replication slot {self.slot} belongs to database {row[0]}, not {database}; "
                "set QULAB_RELAY_SLOT to a name of this database's own"
            )
        return SlotInfo(self.slot, int(row[1] or 0), bool(row[2]), row[3])

    async def create_slot(self) -> str:
        """Create the slot (its own transaction: PostgreSQL refuses after a write)."""
        return str(await self._scalar(CREATE_SLOT))

    async def record_slot(self, lsn: str, now: datetime) -> None:
        await self.conn.execute(SLOT_ROW, {"slot": self.slot, "lsn": lsn, "now": now})

    async def drained(self) -> bool | None:
        """Whether the events older than the slot were handed on (None: no row for the slot)."""
        found = await self._scalar(DRAINED)
        return None if found is None else bool(found)

    async def drain(self, now: datetime) -> int:
        """Hand the events older than the slot to the retry pass; mark the slot drained."""
        moved = await OutboxRepository(self.conn).hand_pending_to_failures(now)
        await self.conn.execute(MARK_DRAINED, {"slot": self.slot, "now": now})
        return moved

    async def drop_slot(self) -> None:
        await self._scalar(DROP_SLOT)

    # -- owning and decoding -------------------------------------------------------------------

    async def try_lock(self) -> bool:
        """Take the slot's session-level advisory lock: held until this session ends."""
        return bool(await self._scalar(TRY_LOCK, key=LOCK_PREFIX + self.slot))

    async def unlock(self) -> None:
        await self._scalar(UNLOCK, key=LOCK_PREFIX + self.slot)

    async def mark(self, token: str) -> str:
        """Write a logical decoding message into the log (its own transaction: it reaches the
        stream when this commits, after everything committed before it); returns its LSN."""
        return str(await self._scalar(MARK, prefix=MARK_PREFIX, token=token))

    async def visible(self, xids: Sequence[int]) -> bool:
        """Whether every one of these committed transactions is visible to a new snapshot."""
        return bool(await self._scalar(VISIBLE, xids=list(xids)))

    # -- failures and counts -------------------------------------------------------------------

    async def held_aggregates(self, aggregate_ids: Sequence[str]) -> set[str]:
        """Which of these aggregates have an event waiting in the failures record."""
        if not aggregate_ids:
            return set()
        found = await self.conn.execute(HELD_AGGREGATES, {"ids": list(set(aggregate_ids))})
        return {str(row[0]) for row in found}

    async def add_failures(self, rows: list[dict[str, Any]]) -> None:
        """Each dict: event_id, aggregate_id, sequence, status, attempts, error, next, now."""
        if rows:
            await self.conn.execute(ADD_FAILURE, [_clipped(row) for row in rows])

    async def set_failures(self, rows: list[dict[str, Any]]) -> None:
        """Each dict: event_id, status, attempts, error, next, now."""
        if rows:
            await self.conn.execute(SET_FAILURE, [_clipped(row) for row in rows])

    async def dead_letter(self, rows: list[dict[str, Any]]) -> None:
        """Each dict: event_id, attempts, error, now: the event's row becomes ``failed``."""
        if rows:
            await OutboxRepository(self.conn).dead_letter(
                [
                    {k: row[k] for k in ("event_id", "attempts", "error", "now")}
                    for row in map(_clipped, rows)
                ]
            )

    async def published(
        self, event_ids: Sequence[str], lsn: str | None, now: datetime, *, forget: bool = True
    ) -> int:
        """The broker confirmed these events: delete their rows and (``forget``) their failure
        records, count them on the slot's row (and note the position the slot is about to move
        to). Returns how many rows were deleted."""
        return await OutboxRepository(self.conn).delete_published_for_slot(
            event_ids, slot=self.slot, lsn=lsn, now=now, forget=forget
        )

    async def delete(self, event_ids: Sequence[str]) -> int:
        return await OutboxRepository(self.conn).delete_published(event_ids)

    async def open_failures(self, limit: int) -> list[OpenFailure]:
        rows = await OutboxRepository(self.conn).open_failures(limit)
        found = []
        for row in rows:
            replayed = row[1] == FAILED and row[4] == "pending"
            message = OutboxMessage(
                id=row[0],
                type=row[5],
                aggregate_type=row[6],
                aggregate_id=row[7],
                occurred_at=row[8],
                payload_json=row[9],
                sequence=int(row[10]),
                attempts=0 if replayed else int(row[2]),
                trace_context=tracing.carrier_from(orjson.loads(row[11])) if row[11] else None,
            )
            found.append(OpenFailure(row[1], message.attempts, row[3], message))
        return found

    async def any_open(self) -> bool:
        """Whether any event waits in the failures record (retrying, or held behind one)."""
        return bool(await self._scalar(ANY_OPEN))

    async def retrying_count(self) -> int:
        return int(await self._scalar(RETRYING_COUNT) or 0)

    async def published_total(self) -> int:
        return int(await self._scalar(PUBLISHED_TOTAL) or 0)


def _clipped(row: dict[str, Any]) -> dict[str, Any]:
    error = row.get("error")
    return {**row, "error": None if error is None else str(error)[:MAX_ERROR]}


async def slot_info(db: Database) -> SlotInfo | None:
    """The log-tailing relay's slot on ``db`` (None: not in ``wal`` mode, not PostgreSQL, or
    no slot yet): how much WAL it keeps, whether a relay is decoding it."""
    if db.settings.relay.mode != "wal" or db.dialect != "postgresql":
        return None
    async with db.connect() as conn:
        return await WalRepository(conn, db.settings.relay.slot).info()
