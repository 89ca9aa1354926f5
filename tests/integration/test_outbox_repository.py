"""The outbox repository: one rule for marking published, on a session or a connection."""

from __future__ import annotations

from typing import Any

import pytest

import qulab
from qulab.core.db import Database
from qulab.core.models import DomainEvent, EventStatus
from qulab.core.outbox import MemoryBroker, RetryPolicy, publish_pending
from tests.outbox_helpers import RejectingPublisher, all_events, emit_events

ONE_RETRY = RetryPolicy(max_attempts=5, base=30, cap=30, jitter=0)


def _published_state(event: DomainEvent) -> tuple[Any, ...]:
    return (
        event.status,
        event.attempts,
        event.next_attempt_at,
        event.last_error,
        event.published_at is not None,
        event.updated_at == event.published_at,
    )


async def test_marking_published_by_the_seed_name_and_by_the_relay_leaves_the_same_row(
    db: Database,
) -> None:
    by_name, by_relay = await emit_events(db, 2)
    async with db.session_scope() as session:
        assert await qulab.DomainEventRepository(session).mark_as_published([by_name]) == 1
    result = await publish_pending(db, MemoryBroker("t", 10))
    assert result.published == 1

    events = {e.id: e for e in await all_events(db)}
    expected = (EventStatus.PUBLISHED.value, 1, None, None, True, True)
    assert _published_state(events[by_name]) == expected
    assert _published_state(events[by_relay]) == expected


async def test_marking_a_retrying_event_published_counts_the_attempt_and_clears_the_retry(
    db: Database,
) -> None:
    [event_id] = await emit_events(db, 1)
    rejecting = RejectingPublisher(MemoryBroker("t", 10), {event_id})
    await publish_pending(db, rejecting, policy=ONE_RETRY)
    [retrying] = await all_events(db)
    assert (retrying.status, retrying.attempts) == (EventStatus.PENDING.value, 1)
    assert retrying.next_attempt_at is not None

    async with db.session_scope() as session:
        assert await qulab.DomainEventRepository(session).mark_as_published([event_id]) == 1

    [marked] = await all_events(db)
    assert (marked.status, marked.attempts, marked.next_attempt_at) == ("published", 2, None)
    # The last failure stays on record; publishing does not rewrite history.
    assert marked.last_error == "rejected: poison"


async def test_a_connection_and_a_session_read_the_same_pending_rows(db: Database) -> None:
    from qulab.core.outbox.repository import OutboxRepository

    ids = await emit_events(db, 3)
    async with db.engine.connect() as conn:
        on_connection = await OutboxRepository(conn).get_pending_events(10)
    async with db.session() as session:
        on_session = await OutboxRepository(session).get_pending_events(10)
    assert on_connection == on_session
    assert [row.id for row in on_session] == ids
    assert [row.payload for row in on_session] == [{"n": 0}, {"n": 1}, {"n": 2}]


async def test_adding_an_event_needs_a_session_and_writes_nothing_otherwise(db: Database) -> None:
    from qulab.core.outbox.repository import OutboxRepository

    event = DomainEvent(event_type="t", aggregate_type="T", aggregate_id="a", payload={})
    async with db.engine.connect() as conn:
        with pytest.raises(TypeError, match="needs an AsyncSession"):
            await OutboxRepository(conn).add(event)
    assert await all_events(db) == []
