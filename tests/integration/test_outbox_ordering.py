"""The ordered relay on PostgreSQL: one aggregate's events reach the broker in order; a retrying
event holds back only its own aggregate; a dead-lettered one releases it; and the commit fence
keeps a transaction that committed late from being overtaken."""

from __future__ import annotations

import re
from datetime import timedelta

import asyncpg
import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from qulab.core.db import Database
from qulab.core.errors import ConfigurationError
from qulab.core.ids import new_id
from qulab.core.models import DomainEvent, EventStatus, utcnow
from qulab.core.outbox import Relay, replay
from qulab.core.outbox.leases import Leases
from qulab.core.outbox.memory import MemoryBroker
from qulab.core.outbox.message import OutboxMessage
from qulab.core.outbox.ordered import OrderedLane
from qulab.core.outbox.repository import CLAIM_ORDERED, OutboxRepository
from qulab.core.outbox.retry import RetryPolicy
from qulab.platform.events import OpaqueEvent
from qulab.platform.uow import PlatformUnitOfWork
from tests import services
from tests.outbox_helpers import RejectingPublisher, all_events, emit_events, txids

pytestmark = pytest.mark.parametrize("backend", ["postgresql"])

RETRY_LATER = RetryPolicy(max_attempts=5, base=3600, cap=3600, jitter=0)
DEAD_AT_ONCE = RetryPolicy(max_attempts=1)


async def record(db: Database, *aggregates: str) -> list[str]:
    """One event per aggregate named, in one transaction; returns the event ids."""
    async with PlatformUnitOfWork(db) as uow:
        rows = [
            uow.record(OpaqueEvent("test.happened", "Test", aggregate, {"n": n}))
            for n, aggregate in enumerate(aggregates)
        ]
        await uow.commit()
    return [row.id for row in rows]


def raw_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def delivered(broker: MemoryBroker) -> list[str]:
    return [d.message.id for d in broker.messages()]


async def statuses(db: Database) -> dict[str, str]:
    return {event.id: event.status for event in await all_events(db)}


async def make_due(db: Database, event_id: str) -> None:
    """Bring a retrying event's next attempt forward to now."""
    async with db.begin() as conn:
        await conn.execute(
            update(DomainEvent)
            .where(DomainEvent.id == event_id)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


async def test_a_retrying_event_holds_back_only_its_own_aggregate(db: Database) -> None:
    x, y = new_id(), new_id()
    x1, y1, x2, y2, x3 = await record(db, x, y, x, y, x)
    broker = MemoryBroker("ordering", 100)
    rejecting = RejectingPublisher(broker, {x1})

    first = await Relay(db, rejecting, policy=RETRY_LATER).publish_pending()

    assert delivered(broker) == [y1, y2]
    assert (first.published, first.retried) == (2, 1)
    events = {event.id: event for event in await all_events(db)}
    assert events[x1].attempts == 1 and events[x1].next_attempt_at is not None
    # Held back, not attempted: no attempt counted, no error recorded.
    assert [(events[i].status, events[i].attempts) for i in (x2, x3)] == [("pending", 0)] * 2

    more_y = await record(db, y)
    await Relay(db, rejecting, policy=RETRY_LATER).publish_pending()
    assert delivered(broker) == [y1, y2, *more_y]  # y keeps flowing while x waits

    rejecting.reject.clear()
    await make_due(db, x1)
    await Relay(db, rejecting, policy=RETRY_LATER).publish_pending()
    assert delivered(broker)[3:] == [x1, x2, x3]
    assert set((await statuses(db)).values()) == {EventStatus.PUBLISHED.value}


async def test_a_dead_lettered_event_releases_its_aggregate(db: Database) -> None:
    x = new_id()
    x1, x2, x3 = await record(db, x, x, x)
    broker = MemoryBroker("ordering", 100)
    rejecting = RejectingPublisher(broker, {x1})

    await Relay(db, rejecting, policy=DEAD_AT_ONCE).publish_pending()

    assert delivered(broker) == [x2, x3]
    assert await statuses(db) == {
        x1: EventStatus.FAILED.value,
        x2: EventStatus.PUBLISHED.value,
        x3: EventStatus.PUBLISHED.value,
    }
    # Replaying it sends it once more, after the events that overtook it.
    rejecting.reject.clear()
    assert await replay(db, [x1]) == 1
    await Relay(db, rejecting, policy=DEAD_AT_ONCE).publish_pending()
    assert delivered(broker) == [x2, x3, x1]


async def test_one_aggregate_in_one_batch_goes_out_in_order_even_when_its_head_fails(
    db: Database,
) -> None:
    x, y = new_id(), new_id()
    ids = await record(db, x, x, y, x, y)
    broker = MemoryBroker("ordering", 100)
    rejecting = RejectingPublisher(broker, {ids[1]})  # x's second event fails

    await Relay(db, rejecting, policy=RETRY_LATER, batch_size=10).publish_pending()

    assert delivered(broker) == [ids[0], ids[2], ids[4]]  # x stops at its failed event


async def test_the_fence_waits_for_an_older_transaction_that_commits_late(
    db: Database,
) -> None:
    """Two transactions write events of one aggregate and commit in the opposite order: the
    relay publishes nothing of the aggregate while the older one is open, then both in order."""
    x, other = new_id(), new_id()
    broker = MemoryBroker("ordering", 100)
    older, newer = db.session(), db.session()
    try:
        async with older.begin(), newer.begin():
            first = DomainEvent(
                id=new_id(),
                event_type="test.happened",
                aggregate_type="Test",
                aggregate_id=x,
                payload={"n": 1},
            )
            older.add(first)
            await older.flush()
            second = DomainEvent(
                id=new_id(),
                event_type="test.happened",
                aggregate_type="Test",
                aggregate_id=x,
                payload={"n": 2},
            )
            newer.add(second)
            await newer.flush()
            await newer.commit()  # the later write commits first

            result = await Relay(db, broker).publish_pending()
            assert result.published == 0
            assert delivered(broker) == []
            # Unrelated events written after the open transaction began wait too: the fence is
            # about transactions, not aggregates.
            unrelated = await record(db, other)
            await Relay(db, broker).publish_pending()
            assert delivered(broker) == []

            await older.commit()
    finally:
        await older.close()
        await newer.close()

    await Relay(db, broker).publish_pending()
    sent = delivered(broker)
    assert sorted(sent) == sorted([first.id, second.id, *unrelated])
    assert [i for i in sent if i in (first.id, second.id)] == [first.id, second.id]


async def test_a_long_transaction_in_another_database_does_not_hold_the_fence(
    db: Database,
) -> None:
    # The cluster's maintenance database: only read, and the transaction is rolled back.
    elsewhere = await asyncpg.connect(raw_dsn(services.POSTGRES_URL), timeout=5)
    broker = MemoryBroker("ordering", 100)
    try:
        async with elsewhere.transaction():
            await elsewhere.execute("SELECT pg_current_xact_id()")  # holds a transaction id
            ids = await record(db, new_id())
            await Relay(db, broker).publish_pending()
            assert delivered(broker) == ids
            raise_to_roll_back = False
    finally:
        await elsewhere.close()
    assert raise_to_roll_back is False


async def test_events_restored_with_ids_this_cluster_never_handed_out_are_published(
    db: Database,
) -> None:
    ids = await record(db, new_id(), new_id())
    async with db.begin() as conn:  # as if restored from a cluster far ahead of this one
        await conn.execute(text("UPDATE domain_events SET txid = 9000000000000"))
    broker = MemoryBroker("ordering", 100)

    await Relay(db, broker).publish_pending()

    assert delivered(broker) == ids
    assert set((await txids(db)).values()) == {0}


async def test_the_ordered_claim_walks_its_index_and_stops_at_the_limit(db: Database) -> None:
    await emit_events(db, 6000, per_transaction=3000)
    async with db.engine.begin() as conn:
        await conn.execute(text("ANALYZE domain_events"))
    lane = OrderedLane(db, lease_seconds=60, partitions=16)
    try:
        await lane.heartbeat(share=False)
        async with lane.kept.transaction() as conn:
            plan = await conn.execute(
                text("EXPLAIN ANALYZE " + str(CLAIM_ORDERED)),
                {
                    "owner": lane.id,
                    "partitions": 16,
                    "limit": 100,
                    "now": utcnow(),
                    "marked": [],
                    "published_at": utcnow(),
                },
            )
            lines = "\n".join(row[0] for row in plan.all())
            # Marks and leases on this connection do not wait for the WAL flush.
            commit = await conn.execute(text("SHOW synchronous_commit"))
            assert commit.scalar_one() == "off"
            jit = await conn.execute(text("SHOW jit"))  # never worth it for these statements
            assert jit.scalar_one() == "off"
    finally:
        await lane.leave()
    assert "Index Scan using ix_events_pending_txid" in lines, lines
    assert "Sort" not in lines, lines
    scanned = re.search(r"Index Scan using ix_events_pending_txid.*actual .*rows=(\d+)", lines)
    assert scanned is not None and int(scanned.group(1)) == 100, lines  # not all 6 000


async def test_the_ordered_claim_is_planned_once_per_connection(db: Database) -> None:
    """Planning the claim costs more than running it: the relay's connection keeps one generic
    plan instead of planning it again for every batch."""
    await emit_events(db, 60, per_transaction=10)
    lane = OrderedLane(db, lease_seconds=60, partitions=16)
    try:
        await lane.heartbeat(share=False)
        for _ in range(8):
            async with lane.kept.transaction() as conn:
                assert len(await lane.claim(conn, 10, utcnow())) == 10
        async with lane.kept.transaction() as conn:
            plans = await conn.execute(
                text(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                    "WHERE statement LIKE '%FROM outbox_leases%FOR UPDATE OF e%' "
                    "AND statement NOT LIKE '%pg_prepared_statements%'"  # not this one
                )
            )
            (generic, custom), *others = plans.all()
    finally:
        await lane.leave()
    assert others == []
    assert (generic, custom) == (8, 0)


async def test_a_relay_with_another_partition_count_than_the_running_ones_refuses(
    db: Database,
) -> None:
    running = Leases("a-running-relay", "test", 16, 60)
    other = Leases("b-other-relay", "test", 8, 60)
    async with db.begin() as conn:
        assert len(await running.heartbeat(conn)) == 16
    with pytest.raises(ConfigurationError, match="QULAB_OUTBOX_PARTITIONS=16"):
        async with db.begin() as conn:
            await other.heartbeat(conn)
    async with db.begin() as conn:
        await running.leave(conn)


# -- a full batch's marks go with the next claim ------------------------------------------------


def _standalone_marks(statements: list[str]) -> list[int]:
    return [i for i, s in enumerate(statements) if s.startswith("UPDATE domain_events SET status")]


def _claims(statements: list[str]) -> int:
    return sum(1 for s in statements if "FROM outbox_leases" in s and "FOR UPDATE OF e" in s)


async def test_a_full_batch_leaves_its_marks_to_the_next_claim(db: Database) -> None:
    ids = await emit_events(db, 30, per_transaction=10)
    broker = MemoryBroker("ordering", 100)
    relay = Relay(db, broker, batch_size=10, listen=False)

    with db.count_statements() as counter:
        result = await relay.publish_pending()

    assert result.published == 30
    assert delivered(broker) == ids
    rows = await all_events(db)
    assert {(e.status, e.attempts, e.next_attempt_at) for e in rows} == {("published", 1, None)}
    assert all(e.published_at is not None for e in rows)
    statements = [" ".join(s.split()) for s in counter.statements]
    # Three full batches and the claim that finds nothing; every mark went with a claim.
    assert _claims(statements) == 4
    assert _standalone_marks(statements) == []


async def test_a_batch_published_outside_a_pass_is_marked_when_it_returns(db: Database) -> None:
    ids = await emit_events(db, 20, per_transaction=10)
    broker = MemoryBroker("ordering", 100)
    relay = Relay(db, broker, batch_size=10, listen=False)
    assert relay.lane is not None
    try:
        result = await relay.publish_batch()
    finally:
        await relay.lane.leave()

    assert result.published == 10
    assert delivered(broker) == ids[:10]
    found = await statuses(db)
    assert [found[i] for i in ids] == ["published"] * 10 + ["pending"] * 10


async def test_marks_left_to_the_next_claim_are_written_before_the_leases_are_renewed(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a heartbeat is due (here: before every batch), the left marks are written first,
    so no other relay can take a partition whose published events still look pending."""
    monkeypatch.setattr(OrderedLane, "beat_due", lambda self, *, share: True)
    ids = await emit_events(db, 30, per_transaction=10)
    broker = MemoryBroker("ordering", 100)
    relay = Relay(db, broker, batch_size=10, listen=False)

    with db.count_statements() as counter:
        await relay.publish_pending()

    assert delivered(broker) == ids
    assert set((await statuses(db)).values()) == {"published"}
    statements = [" ".join(s.split()) for s in counter.statements]
    marks = _standalone_marks(statements)
    assert len(marks) == 3
    for at in marks:
        assert statements[at + 1].startswith("INSERT INTO outbox_leases"), statements[at + 1]


async def test_marks_whose_transaction_failed_leave_their_events_pending_to_go_again(
    db: Database,
) -> None:
    ids = await emit_events(db, 30, per_transaction=10)
    broker = MemoryBroker("ordering", 100)
    batches = 0

    async def fail_the_second_batch(messages: list[OutboxMessage]) -> None:
        nonlocal batches
        batches += 1
        if batches == 2:
            raise RuntimeError("the relay died between two batches")

    relay = Relay(db, broker, batch_size=10, listen=False, before_publish=fail_the_second_batch)
    with pytest.raises(RuntimeError, match="died"):
        await relay.publish_pending()

    # The first batch reached the broker; its marks went with the second claim, rolled back.
    assert delivered(broker) == ids[:10]
    assert set((await statuses(db)).values()) == {"pending"}

    await relay.publish_pending()
    assert delivered(broker) == ids[:10] + ids  # at least once, in order both times
    assert set((await statuses(db)).values()) == {"published"}


async def test_a_batch_larger_than_fifty_marks_its_own_events(db: Database) -> None:
    """Beyond 50 events the claim's walk over the rows it marks costs more than the round trip."""
    ids = await emit_events(db, 120, per_transaction=60)
    broker = MemoryBroker("ordering", 200)
    relay = Relay(db, broker, batch_size=60, listen=False)

    with db.count_statements() as counter:
        await relay.publish_pending()

    assert delivered(broker) == ids
    assert set((await statuses(db)).values()) == {"published"}
    statements = [" ".join(s.split()) for s in counter.statements]
    assert len(_standalone_marks(statements)) == 2


async def test_plans_made_on_a_small_outbox_do_not_scan_it_once_it_is_large(
    db: Database,
) -> None:
    """The relay's connection keeps its plans. Made while the outbox held a few rows (a fresh
    one, or one a purge emptied), a sequential scan is the cheapest; it must not stay the plan
    once the outbox has grown (it once did: 65 million rows read to relay 10 000 events)."""
    await emit_events(db, 5)
    lane = OrderedLane(db, lease_seconds=60, partitions=16)
    try:
        await lane.heartbeat(share=False)
        async with lane.kept.transaction() as conn:  # the plans are made here
            few = await lane.claim(conn, 100, utcnow())
            await lane.claim(conn, 100, utcnow(), [m.id for m in few], utcnow())
            await OutboxRepository(conn).mark_as_published([m.id for m in few])
        await emit_events(db, 3000, per_transaction=500)
        async with lane.kept.transaction() as conn:
            before = await _scans_so_far(conn)
            first = await lane.claim(conn, 100, utcnow())
            second = await lane.claim(conn, 100, utcnow(), [m.id for m in first], utcnow())
            await OutboxRepository(conn).mark_as_published([m.id for m in second])
            after = await _scans_so_far(conn)
    finally:
        await lane.leave()
    assert (len(few), len(first), len(second)) == (5, 100, 100)
    assert after[1] > before[1]  # index scans
    assert after[0] == before[0]  # no sequential scan


async def _scans_so_far(conn: AsyncConnection) -> tuple[int, int]:
    """Sequential and index scans of the outbox by this session not yet reported to the
    statistics (this transaction's among them)."""
    found = await conn.execute(
        text(
            "SELECT seq_scan, idx_scan FROM pg_stat_xact_user_tables "
            "WHERE relname = 'domain_events'"
        )
    )
    seq_scans, index_scans = found.one()
    return int(seq_scans), int(index_scans)
