"""The backlog the relay reports as gauges: pending and failed counts (capped) and the oldest
pending event's time, read in one statement on either database."""

from __future__ import annotations

from datetime import UTC, datetime

from qulab.core.db import Database
from qulab.core.models import EventStatus
from qulab.core.outbox import MemoryBroker, RetryPolicy, publish_pending
from qulab.core.outbox.repository import OutboxRepository
from tests.outbox_helpers import RejectingPublisher, all_events, emit_events

NO_RETRY = RetryPolicy(max_attempts=1, base=1, cap=1, jitter=0)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _backlog(db: Database, cap: int = 1000) -> tuple[int, int, datetime | None]:
    async with db.connect() as conn:
        found = await OutboxRepository(conn).backlog(cap)
    return found.pending, found.failed, found.oldest_pending_at


async def test_backlog_counts_pending_and_failed_and_dates_the_oldest_pending(
    db: Database,
) -> None:
    assert await _backlog(db) == (0, 0, None)
    poison = await emit_events(db, 2)
    result = await publish_pending(
        db, RejectingPublisher(MemoryBroker("t", 10), set(poison)), policy=NO_RETRY
    )
    assert result.dead == 2
    await emit_events(db, 3)

    pending, failed, oldest = await _backlog(db)

    events = await all_events(db)
    waiting = [_utc(e.created_at) for e in events if e.status == EventStatus.PENDING.value]
    assert (pending, failed) == (3, 2)
    assert oldest == min(waiting)


async def test_backlog_counts_stop_at_the_cap(db: Database) -> None:
    await emit_events(db, 5)

    pending, failed, oldest = await _backlog(db, cap=2)

    assert (pending, failed) == (2, 0)
    assert oldest is not None
