"""The inbox: a consumer's effects and the event id commit in one transaction, or neither.

``apply_once`` inserts ``(consumer, event_id)`` first. If the row is already there the event
was applied before (a redelivery): only its ``deliveries`` count goes up and the handler does
not run. Otherwise the handler writes its effects on the same connection and both commit
together. On PostgreSQL a second consumer inserting the same key waits for the first one's
transaction, then finds the row: two deliveries racing still apply once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Table, and_, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from qulab.core.consumers.delivery import Delivery
from qulab.core.db import Database
from qulab.core.models import InboxEntry, utcnow

INBOX: Table = InboxEntry.__table__  # type: ignore[assignment]

Apply = Callable[[AsyncConnection, Delivery], Awaitable[None]]


def dialect_insert(conn: AsyncConnection, table: Table) -> Any:
    """INSERT with ON CONFLICT support for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


async def apply_once(db: Database, consumer: str, delivery: Delivery, apply: Apply) -> bool:
    """Apply ``delivery`` with its inbox row in one transaction. True if it was applied now,
    False if this consumer had applied it already (a duplicate: nothing else changes)."""
    async with db.begin() as conn:
        claim = (
            dialect_insert(conn, INBOX)
            .values(
                consumer=consumer,
                event_id=delivery.event_id,
                event_type=delivery.type[:100],
                applied_at=utcnow(),
                deliveries=1,
            )
            .on_conflict_do_nothing(index_elements=[INBOX.c.consumer, INBOX.c.event_id])
        )
        if (await conn.execute(claim)).rowcount == 0:
            await conn.execute(
                update(INBOX)
                .where(_key(consumer, delivery.event_id))
                .values(deliveries=INBOX.c.deliveries + 1)
            )
            return False
        await apply(conn, delivery)
        return True


def _key(consumer: str, event_id: str) -> Any:
    return and_(INBOX.c.consumer == consumer, INBOX.c.event_id == event_id)


async def inbox_counts(db: Database, consumer: str | None = None) -> dict[str, tuple[int, int]]:
    """Per consumer (or only ``consumer``): (events applied, duplicate deliveries skipped)."""
    query = select(
        INBOX.c.consumer, func.count(), func.coalesce(func.sum(INBOX.c.deliveries - 1), 0)
    ).group_by(INBOX.c.consumer)
    if consumer is not None:
        query = query.where(INBOX.c.consumer == consumer)
    async with db.connect() as conn:
        rows = (await conn.execute(query)).all()
    return {str(name): (int(applied), int(duplicates)) for name, applied, duplicates in rows}


async def applied_ids(db: Database, consumer: str) -> dict[str, int]:
    """Every event id ``consumer`` has applied, with how many times it was delivered."""
    query = select(INBOX.c.event_id, INBOX.c.deliveries).where(INBOX.c.consumer == consumer)
    async with db.connect() as conn:
        return {str(i): int(n) for i, n in (await conn.execute(query)).all()}
