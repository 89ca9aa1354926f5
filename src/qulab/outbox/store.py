"""The relay's SQL: claim due pending events, mark them published, record failures.

Plain Core statements on a connection (no ORM identity map on the hot path). The claim keeps
``status = 'pending'`` a literal so PostgreSQL and SQLite can use the partial index
``ix_events_pending_sequence`` even with prepared statements, and walks it in sequence order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, Text, any_, bindparam, cast, literal_column, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnClause
from sqlalchemy.types import String

from qulab.models import DomainEvent, EventStatus
from qulab.outbox.message import OutboxMessage

events: Table = DomainEvent.__table__  # type: ignore[assignment]
c = events.c
PENDING: ColumnClause[str] = literal_column("'pending'")
MAX_ERROR = 2000

_claim = (
    select(
        c.id,
        c.event_type,
        c.aggregate_type,
        c.aggregate_id,
        c.created_at,
        cast(c.payload, Text),
        c.sequence,
        c.attempts,
    )
    .where(c.status == PENDING)
    .where(or_(c.next_attempt_at.is_(None), c.next_attempt_at <= bindparam("now")))
    .order_by(c.sequence)
    .limit(bindparam("limit"))
)
CLAIM_LOCKED = _claim.with_for_update(skip_locked=True)
CLAIM_PLAIN = _claim

_published_values = {
    "status": EventStatus.PUBLISHED.value,
    "published_at": bindparam("now"),
    "updated_at": bindparam("now"),
    "attempts": c.attempts + 1,
    "next_attempt_at": None,
}
MARK_PUBLISHED_PG = (
    update(events)
    .where(c.id == any_(bindparam("ids", type_=ARRAY(String(36)))))
    .values(_published_values)
)
MARK_PUBLISHED_OTHER = (
    update(events).where(c.id.in_(bindparam("ids", expanding=True))).values(_published_values)
)
RECORD_FAILURE = (
    update(events)
    .where(c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        last_error=bindparam("b_error"),
        next_attempt_at=bindparam("b_next"),
        updated_at=bindparam("b_now"),
    )
)


async def claim(
    conn: AsyncConnection, limit: int, now: datetime, *, lock: bool
) -> list[OutboxMessage]:
    """Up to ``limit`` due pending events, oldest sequence first. With ``lock`` (PostgreSQL)
    the rows stay locked until the transaction ends and other relays skip them."""
    statement = CLAIM_LOCKED if lock else CLAIM_PLAIN
    rows = (await conn.execute(statement, {"now": now, "limit": limit})).all()
    return [
        OutboxMessage(
            id=row[0],
            type=row[1],
            aggregate_type=row[2],
            aggregate_id=row[3],
            occurred_at=row[4],
            payload_json=row[5],
            sequence=row[6],
            attempts=row[7],
        )
        for row in rows
    ]


async def mark_published(conn: AsyncConnection, ids: Sequence[str], now: datetime) -> int:
    if not ids:
        return 0
    statement = MARK_PUBLISHED_PG if conn.dialect.name == "postgresql" else MARK_PUBLISHED_OTHER
    result = await conn.execute(statement, {"ids": list(ids), "now": now})
    return int(result.rowcount or 0)


async def record_failures(conn: AsyncConnection, failures: list[dict[str, Any]]) -> None:
    """Each dict: b_id, b_status, b_attempts, b_error, b_next, b_now (one executemany)."""
    if failures:
        for failure in failures:
            failure["b_error"] = str(failure["b_error"])[:MAX_ERROR]
        await conn.execute(RECORD_FAILURE, failures)
