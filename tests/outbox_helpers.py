"""Helpers shared by the outbox tests: writing events, reading them back, Redis streams."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, select

from qulab.core.db import Database
from qulab.core.ids import new_id
from qulab.core.models import DomainEvent
from qulab.core.outbox.memory import MemoryBroker
from qulab.core.outbox.message import OutboxMessage
from qulab.core.outbox.publisher import Failures
from qulab.platform.events import OpaqueEvent
from qulab.platform.uow import PlatformUnitOfWork


async def emit_events(
    db: Database, count: int, *, aggregate_type: str = "Test", per_transaction: int = 500
) -> list[str]:
    """Commit ``count`` events (``per_transaction`` per unit of work); returns their ids."""
    ids: list[str] = []
    while len(ids) < count:
        async with PlatformUnitOfWork(db) as uow:
            for _ in range(min(per_transaction, count - len(ids))):
                event = uow.record(
                    OpaqueEvent("test.happened", aggregate_type, new_id(), {"n": len(ids)})
                )
                ids.append(event.id)
            await uow.commit()
    return ids


async def emit_events_as_before_0007(db: Database, count: int) -> list[str]:
    """Commit ``count`` events the way a writer did before revision 0007 (no trace context
    column): one Core insert of the event's own columns, the rest left to their defaults. For
    tests that write on a database downgraded past 0007; returns the ids."""
    ids = [new_id() for _ in range(count)]
    rows = [
        {
            "id": ident,
            "event_type": "test.happened",
            "aggregate_type": "Test",
            "aggregate_id": new_id(),
            "payload": {"n": n},
        }
        for n, ident in enumerate(ids)
    ]
    async with db.engine.begin() as conn:
        await conn.execute(insert(DomainEvent), rows)
    return ids


async def all_events(db: Database) -> list[DomainEvent]:
    async with db.session() as session:
        result = await session.execute(select(DomainEvent).order_by(DomainEvent.sequence))
        return list(result.scalars())


async def txids(db: Database) -> dict[str, int]:
    """Each event's writing transaction id (a column the ORM class does not map)."""
    table = DomainEvent.__table__
    async with db.connect() as conn:
        rows = await conn.execute(select(table.c.id, table.c.txid))
        return {event_id: txid for event_id, txid in rows.all()}


class RejectingPublisher:
    """Delivers to a memory broker but rejects the given event ids (a poison message)."""

    def __init__(self, broker: MemoryBroker, reject: set[str]) -> None:
        self.broker = broker
        self.reject = reject

    @property
    def description(self) -> str:
        return "rejecting " + self.broker.description

    async def publish(self, messages: Sequence[OutboxMessage]) -> Failures:
        await self.broker.publish([m for m in messages if m.id not in self.reject])
        return {m.id: "rejected: poison" for m in messages if m.id in self.reject}

    async def close(self) -> None:
        await self.broker.close()
