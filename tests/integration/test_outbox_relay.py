"""The relay against the embedded broker, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.core.errors import RelayAlreadyRunning
from qulab.core.models import DomainEvent, EventStatus
from qulab.core.outbox import (
    MemoryBroker,
    OutageSwitch,
    Relay,
    RetryPolicy,
    event_publisher,
    publish_pending,
)
from qulab.seed_names import DomainEventRepository
from tests.outbox_helpers import RejectingPublisher, all_events, emit_events
from tests.waiting import eventually

FAST = RetryPolicy(max_attempts=3, base=0.01, cap=0.05, jitter=0.5)


async def test_publish_pending_sends_every_event_in_sequence_order_and_marks_it(
    db: Database,
) -> None:
    ids = await emit_events(db, 25, per_transaction=7)
    broker = MemoryBroker("t", 100)

    result = await publish_pending(db, broker, batch_size=10)

    assert (result.published, result.batches, result.dead) == (25, 3, 0)
    assert [d.message.id for d in broker.messages()] == ids
    events = await all_events(db)
    assert [e.id for e in events] == ids
    assert all(e.status == EventStatus.PUBLISHED.value for e in events)
    assert all(e.published_at is not None and e.attempts == 1 for e in events)
    sequences = [e.sequence for e in events]
    assert sequences == sorted(sequences) and len(set(sequences)) == 25


async def test_message_carries_the_architecture_fields(db: Database) -> None:
    [event_id] = await emit_events(db, 1, aggregate_type="AIRScore")
    broker = MemoryBroker("t", 10)
    await publish_pending(db, broker)
    [delivered] = broker.messages()
    fields = delivered.message.fields()
    assert set(fields) == {"id", "type", "aggregate_type", "aggregate_id", "occurred_at", "payload"}
    assert fields["id"] == event_id
    assert fields["aggregate_type"] == "AIRScore"
    assert delivered.message.payload == {"n": 0}


async def test_poison_event_is_dead_lettered_after_max_attempts_while_others_publish(
    db: Database,
) -> None:
    ids = await emit_events(db, 6)
    poison = ids[2]
    broker = MemoryBroker("t", 100)
    publisher = RejectingPublisher(broker, {poison})

    for _ in range(FAST.max_attempts):
        await publish_pending(db, publisher, policy=FAST)
        await asyncio.sleep(FAST.cap)

    events = {e.id: e for e in await all_events(db)}
    assert events[poison].status == EventStatus.FAILED.value
    assert events[poison].attempts == FAST.max_attempts
    assert events[poison].last_error == "rejected: poison"
    assert events[poison].next_attempt_at is None
    others = [events[i] for i in ids if i != poison]
    assert all(e.status == EventStatus.PUBLISHED.value for e in others)
    assert sorted(d.message.id for d in broker.messages()) == sorted(set(ids) - {poison})


async def test_failed_event_waits_for_its_next_attempt_time(db: Database) -> None:
    [event_id] = await emit_events(db, 1)
    slow = RetryPolicy(max_attempts=5, base=60, cap=60, jitter=0)
    publisher = RejectingPublisher(MemoryBroker("t", 10), {event_id})

    first = await publish_pending(db, publisher, policy=slow)
    second = await publish_pending(db, publisher, policy=slow)

    assert (first.claimed, first.retried) == (1, 1)
    assert second.claimed == 0
    [event] = await all_events(db)
    assert event.status == EventStatus.PENDING.value and event.attempts == 1
    assert event.next_attempt_at is not None and event.next_attempt_at > event.updated_at


async def test_broker_outage_keeps_events_pending_and_relay_running_until_it_ends(
    db: Database,
) -> None:
    ids = await emit_events(db, 5)
    broker = MemoryBroker("t", 100)
    switch = OutageSwitch(broker, down=True)
    relay = Relay(db, switch, interval=0.05, policy=FAST)
    task = asyncio.create_task(relay.run())
    try:

        async def attempted_twice() -> bool:
            events = await all_events(db)
            return all(e.attempts >= 2 for e in events)

        await eventually(attempted_twice, "two attempts at every event")
        events = await all_events(db)
        assert all(e.status == EventStatus.PENDING.value for e in events)
        assert all("simulated broker outage" in (e.last_error or "") for e in events)
        assert not task.done()
        assert broker.messages() == []

        switch.set_down(False)

        async def all_published() -> bool:
            return all(e.status == EventStatus.PUBLISHED.value for e in await all_events(db))

        await eventually(all_published, "every event to be published")
    finally:
        relay.stop()
        await asyncio.wait_for(task, 10)
    assert sorted(d.message.id for d in broker.messages()) == sorted(ids)
    # An outage is not the events' fault: none was dead-lettered, however long it lasted.
    assert all(e.status != EventStatus.FAILED.value for e in await all_events(db))


async def test_stopped_relay_returns_after_its_current_pass(db: Database) -> None:
    await emit_events(db, 3)
    broker = MemoryBroker("t", 100)
    relay = Relay(db, broker, interval=30)
    task = asyncio.create_task(relay.run())
    await eventually(lambda: _published_count(broker, 3), "3 messages on the broker")
    relay.stop()
    totals = await asyncio.wait_for(task, 5)
    assert totals.published == 3


async def _published_count(broker: MemoryBroker, n: int) -> bool:
    return len(broker.messages()) >= n


async def test_event_publisher_loop_stops_when_asked(db: Database) -> None:
    await emit_events(db, 4)
    broker = MemoryBroker("t", 100)
    stop = asyncio.Event()
    task = asyncio.create_task(
        event_publisher(db, broker, interval_seconds=0.05, max_events=2, stop=stop)
    )
    await eventually(lambda: _published_count(broker, 4), "4 messages on the broker")
    stop.set()
    totals = await asyncio.wait_for(task, 5)
    assert totals.published == 4 and totals.batches >= 2


async def test_mark_as_published_sets_status_and_published_at(db: Database) -> None:
    ids = await emit_events(db, 3)
    async with db.session_scope() as session:
        repo = DomainEventRepository(session)
        pending = await repo.get_pending_events(limit=10)
        assert [e.id for e in pending] == ids
        assert await repo.mark_as_published(ids[:2]) == 2
    events = {e.id: e for e in await all_events(db)}
    assert [events[i].status for i in ids] == ["published", "published", "pending"]
    assert events[ids[0]].published_at is not None and events[ids[2]].published_at is None


async def test_second_relay_on_sqlite_is_refused_with_a_clear_message(tmp_path: object) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/relay.db"
    first_db, second_db = (
        Database(Settings().replace(database_url=url)),
        Database(Settings().replace(database_url=url)),
    )
    from qulab.platform import migrate

    await migrate.upgrade(first_db)
    first = Relay(first_db, MemoryBroker("a", 10), interval=30)
    task = asyncio.create_task(first.run())
    try:
        await eventually(lambda: first.guard.held, "the first relay to hold the lock")
        with pytest.raises(RelayAlreadyRunning, match="SQLite supports a single relay"):
            await publish_pending(second_db, MemoryBroker("b", 10))
    finally:
        first.stop()
        await asyncio.wait_for(task, 5)
        await first_db.dispose()
    # Once the first relay is gone the lock is free again.
    result = await publish_pending(second_db, MemoryBroker("b", 10))
    assert result.outage is None
    await second_db.dispose()


async def test_new_events_get_increasing_sequence_numbers(db: Database) -> None:
    await emit_events(db, 3, per_transaction=1)
    await emit_events(db, 3, per_transaction=3)
    events = await all_events(db)
    assert [e.sequence for e in events] == sorted(e.sequence for e in events)
    assert len({e.sequence for e in events}) == 6
    assert isinstance(events[0], DomainEvent)
