"""The log-tailing relay on a private PostgreSQL with ``wal_level=logical``, publishing to real
Redis Streams: commit order, no per-row marks, the slot moving only after the broker confirmed,
one owner per slot, retries and dead letters, retained WAL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import asyncpg
import pytest
from sqlalchemy import insert, select, text

from qulab.core.bootstrap import Runtime
from qulab.core.db import Database
from qulab.core.ids import new_id
from qulab.core.models import DomainEvent
from qulab.core.outbox import (
    MemoryBroker,
    OutageSwitch,
    OutboxMessage,
    RedisStreamsPublisher,
    RetryPolicy,
    WalRelay,
    outbox_status,
    relay_for,
    slot_info,
    stream_name,
)
from qulab.core.outbox.publisher import Failures
from qulab.core.outbox.wal_relay import RECORD_BEHIND
from qulab.lab.private_postgres import PrivateCluster
from tests import services
from tests.outbox_helpers import RejectingPublisher, emit_events
from tests.waiting import eventually
from tests.wal_helpers import wal_runtime

FAST = RetryPolicy(max_attempts=2, base=0.01, cap=0.05, jitter=0.0)


@pytest.fixture
async def runtime(logical_postgres: PrivateCluster) -> AsyncIterator[Runtime]:
    async with wal_runtime(logical_postgres) as rt:
        yield rt


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    prefix = services.unique_name("qulab_wal") + ":"
    yield prefix
    await services.delete_redis_prefix(prefix)


def redis_publisher(prefix: str) -> RedisStreamsPublisher:
    return RedisStreamsPublisher(services.REDIS_URL, prefix=prefix, timeout=2.0)


async def stream_ids(prefix: str, aggregate_type: str = "Test") -> list[str]:
    entries = await services.read_stream(stream_name(aggregate_type, prefix))
    return [fields["id"] for _, fields in entries]


def event_row(aggregate_id: str | None = None, n: int = 0) -> dict[str, object]:
    return {
        "id": new_id(),
        "event_type": "test.happened",
        "aggregate_type": "Test",
        "aggregate_id": aggregate_id or new_id(),
        "payload": {"n": n},
    }


async def confirmed_lsn(db: Database) -> str | None:
    info = await slot_info(db)
    return None if info is None else info.confirmed_lsn


async def test_events_are_published_in_commit_order_not_sequence_order(
    runtime: Runtime, redis_prefix: str
) -> None:
    db = runtime.db
    sender = redis_publisher(redis_prefix)
    relay = relay_for(db, sender, listen=False)
    assert isinstance(relay, WalRelay)
    try:
        await relay.publish_pending()  # creates the slot: events from now on are in its stream
        late = event_row()
        async with db.engine.connect() as slow:
            await slow.begin()
            await slow.execute(insert(DomainEvent), [late])  # the lower sequence, not committed
            early = await emit_events(db, 3)  # higher sequences, committed first
            first = await relay.publish_pending()
            await slow.commit()
        second = await relay.publish_pending()
    finally:
        await sender.close()
    assert (first.published, second.published) == (3, 1)
    assert await stream_ids(redis_prefix) == [*early, late["id"]]
    async with db.connect() as conn:
        left = (await conn.execute(select(DomainEvent.id))).all()
    assert left == []  # published rows are deleted


async def test_a_batch_costs_no_update_of_the_events_and_status_still_counts_it(
    runtime: Runtime, redis_prefix: str
) -> None:
    db = runtime.db
    sender = redis_publisher(redis_prefix)
    relay = relay_for(db, sender, listen=False)
    try:
        await relay.publish_pending()
        ids = await emit_events(db, 20)
        pending = await outbox_status(db, 0)
        with db.count_statements() as counter:
            result = await relay.publish_pending()
        line = await relay.status()
    finally:
        await sender.close()
    assert result.published == 20
    statements = [" ".join(s.split()) for s in counter.statements]
    assert not [s for s in statements if "UPDATE domain_events" in s]
    assert len([s for s in statements if "DELETE FROM domain_events" in s]) == 1
    assert await stream_ids(redis_prefix) == ids
    after = await outbox_status(db, 0)
    assert pending.counts["pending"] == 20
    assert (after.counts["pending"], after.counts["published"]) == (0, 20)
    assert line.counts == {"published": 20, "retrying": 0, "failed": 0, "pending": 0}


class PublishThenHang:
    """Hands messages to Redis, then never answers: a relay killed between the broker's
    confirmation and the slot's advance."""

    def __init__(self, inner: RedisStreamsPublisher) -> None:
        self.inner = inner
        self.delivered = asyncio.Event()
        self.description = "hanging " + inner.description

    async def publish(self, messages: Sequence[OutboxMessage]) -> Failures:
        await self.inner.publish(messages)
        self.delivered.set()
        await asyncio.Event().wait()
        return {}

    async def close(self) -> None:
        await self.inner.close()


async def test_a_relay_killed_before_the_slot_advanced_has_its_batch_published_again(
    runtime: Runtime, redis_prefix: str
) -> None:
    db = runtime.db
    sender = redis_publisher(redis_prefix)
    try:
        await relay_for(db, sender, listen=False).publish_pending()
        before = await confirmed_lsn(db)
        ids = await emit_events(db, 5)
        hanging = PublishThenHang(redis_publisher(redis_prefix))
        doomed = relay_for(db, hanging, listen=False, publish_timeout=60)
        task = asyncio.create_task(doomed.publish_pending())
        await asyncio.wait_for(hanging.delivered.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await hanging.close()
        assert await confirmed_lsn(db) == before  # published, never confirmed: not advanced
        result = await relay_for(db, sender, listen=False).publish_pending()
    finally:
        await sender.close()
    assert result.published == 5
    assert await stream_ids(redis_prefix) == ids + ids  # again, at least once: nothing lost
    assert await confirmed_lsn(db) != before


async def lock_holder(db: Database) -> int | None:
    async with db.connect() as conn:
        found = await conn.execute(
            text("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted")
        )
        return found.scalar()


async def test_one_relay_holds_the_slot_and_another_takes_over_when_its_session_ends(
    runtime: Runtime, redis_prefix: str
) -> None:
    db = runtime.db
    sender = redis_publisher(redis_prefix)
    first = WalRelay(db, sender, status_interval=0)
    task1 = asyncio.create_task(first.run())
    try:
        await eventually(lambda: first.owner, "the first relay to own the slot")
        second = WalRelay(db, sender, status_interval=0)
        task2 = asyncio.create_task(second.run())
        ids = await emit_events(db, 4)
        await eventually(lambda: _all_there(redis_prefix, ids), "the first events on the stream")
        assert not second.owner  # it waits on the lock
        holder = await lock_holder(db)
        # The first relay dies: its process (here its task) and its session end together.
        task1.cancel()
        async with db.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": holder})
        await eventually(lambda: second.owner, "the second relay to take the slot over")
        more = await emit_events(db, 3)
        published = await eventually(
            lambda: _all_there(redis_prefix, ids + more), "every event on the stream"
        )
        assert await lock_holder(db) not in (None, holder)
        second.stop()
        await task2
    finally:
        task1.cancel()
        await asyncio.gather(task1, return_exceptions=True)
        await sender.close()
    assert published[: len(ids)] == ids
    assert set(published) == set(ids + more)


async def test_a_relay_whose_session_was_cut_waits_while_another_holds_the_slot(
    runtime: Runtime,
) -> None:
    db = runtime.db
    broker = MemoryBroker("wal-cut")
    first, second = WalRelay(db, broker, listen=False), WalRelay(db, broker, listen=False)
    await first.publish_batch()
    assert first.owner
    holder = await lock_holder(db)
    async with db.connect() as conn:
        await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": holder})
    await second.publish_batch()  # the lock was free: the second takes the slot
    ids = await emit_events(db, 2)
    cut = await first.publish_pending()  # reconnects, finds the lock taken, publishes nothing
    sent = await second.publish_pending()
    assert (first.owner, cut.published, sent.published) == (False, 0, 2)
    assert [m.message.id for m in broker.messages()] == ids


async def _all_there(prefix: str, ids: list[str]) -> list[str] | None:
    found = await stream_ids(prefix)
    return found if set(ids) <= set(found) else None


async def test_a_failing_event_holds_back_only_its_aggregate_until_it_is_dead_lettered(
    runtime: Runtime,
) -> None:
    db = runtime.db
    broker = MemoryBroker("wal-retries")
    stuck, free = new_id(), new_id()
    rows = [event_row(stuck, 0), event_row(free, 0), event_row(stuck, 1), event_row(free, 1)]
    publisher = RejectingPublisher(broker, {str(rows[0]["id"])})
    relay = relay_for(db, publisher, listen=False, policy=FAST)
    await relay.publish_pending()
    async with db.engine.begin() as conn:
        await conn.execute(insert(DomainEvent), rows)
    first = await relay.publish_pending()
    assert [m.message.id for m in broker.messages()] == [rows[1]["id"], rows[3]["id"]]
    assert (first.published, first.retried, first.dead) == (2, 1, 0)
    assert (await relay.status()).counts["retrying"] == 1
    retrying = await outbox_status(db, 10)
    assert [(f.id, f.status, f.attempts) for f in retrying.recent_failures] == [
        (rows[0]["id"], "pending", 1)
    ]
    assert retrying.recent_failures[0].last_error == "rejected: poison"

    async def dead() -> int:
        return (await relay.publish_pending()).dead

    await eventually(dead, "the failing event to be dead-lettered")
    await relay.publish_pending()  # the released event
    delivered = [m.message.id for m in broker.messages()]
    assert delivered == [rows[1]["id"], rows[3]["id"], rows[2]["id"]]  # released, in order
    status = await outbox_status(db, 0)
    assert (status.counts["failed"], status.counts["pending"], status.retrying) == (1, 0, 0)
    assert (relay.totals.published, relay.totals.dead) == (3, 1)


async def test_the_slot_reports_the_wal_it_keeps_while_no_relay_reads_it(
    runtime: Runtime,
) -> None:
    db = runtime.db
    relay = relay_for(db, MemoryBroker("wal-retained"), listen=False)
    await relay.publish_pending()
    idle = await slot_info(db)
    await emit_events(db, 200)
    kept = await slot_info(db)
    await relay.publish_pending()
    read = await slot_info(db)
    assert idle is not None and kept is not None and read is not None
    assert kept.retained_bytes > idle.retained_bytes
    assert read.confirmed_lsn != kept.confirmed_lsn
    assert not read.active


async def test_a_broker_outage_moves_nothing_and_the_events_go_out_once_it_is_back(
    runtime: Runtime,
) -> None:
    db = runtime.db
    broker = MemoryBroker("wal-outage")
    switch = OutageSwitch(broker, down=False)
    relay = relay_for(db, switch, listen=False, policy=FAST)
    await relay.publish_pending()
    before = await confirmed_lsn(db)
    ids = await emit_events(db, 4)
    switch.set_down(True)
    down = await relay.publish_pending()
    assert down.outage is not None and down.published == 0
    assert await confirmed_lsn(db) == before
    status = await outbox_status(db, 0)
    assert (status.counts["pending"], status.retrying, status.counts["failed"]) == (4, 0, 0)
    switch.set_down(False)
    back = await relay.publish_pending()
    assert back.published == 4
    assert [m.message.id for m in broker.messages()] == ids
    assert await confirmed_lsn(db) != before


async def _admin(cluster: PrivateCluster, *statements: str) -> None:
    conn = await asyncpg.connect(cluster.primary.dsn())
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _setting(cluster: PrivateCluster, name: str) -> str:
    conn = await asyncpg.connect(cluster.primary.dsn())
    try:
        return str(await conn.fetchval("SELECT current_setting($1)", name))
    finally:
        await conn.close()


async def test_an_event_streamed_before_its_commit_is_visible_is_still_deleted(
    runtime: Runtime, logical_postgres: PrivateCluster
) -> None:
    """A commit is in the log (and on the stream) a moment before new snapshots see it. Here
    that moment is held open: the writer's commit waits for a synchronous standby that does not
    exist, after its commit record was flushed. The relay publishes the event, finds its row not
    yet visible, waits, and deletes it once the commit completes: no row is left pending behind
    a confirmed slot."""
    db = runtime.db
    broker = MemoryBroker("wal-visible")
    relay = WalRelay(db, broker, listen=False)
    await relay.publish_pending()
    row = event_row()
    # everyone else commits locally; only the writer below waits for the absent standby
    await _admin(logical_postgres, "ALTER SYSTEM SET synchronous_commit = 'local'")
    await _admin(logical_postgres, "SELECT pg_reload_conf()")
    await eventually(
        lambda: _is(logical_postgres, "synchronous_commit", "local"), "the reload applied"
    )
    await _admin(
        logical_postgres,
        "ALTER SYSTEM SET synchronous_standby_names = 'qulab_absent_standby'",
        "SELECT pg_reload_conf()",
    )
    writing: asyncio.Task[None] | None = None
    try:
        await eventually(
            lambda: _is(logical_postgres, "synchronous_standby_names", "qulab_absent_standby"),
            "the standby named",
        )

        async def write() -> None:
            async with db.engine.begin() as conn:
                await conn.execute(text("SET LOCAL synchronous_commit = on"))
                await conn.execute(insert(DomainEvent), [row])

        writing = asyncio.create_task(write())
        draining = asyncio.create_task(relay.publish_pending())
        await eventually(lambda: broker.messages(), "the event published before it is visible")
        assert not writing.done()  # still waiting for the standby: the row is not visible yet
    finally:
        await _admin(
            logical_postgres,
            "ALTER SYSTEM RESET synchronous_standby_names",
            "ALTER SYSTEM RESET synchronous_commit",
            "SELECT pg_reload_conf()",
        )
    assert writing is not None
    await asyncio.wait_for(writing, 10)
    result = await asyncio.wait_for(draining, 10)
    assert result.published == 1
    assert [m.message.id for m in broker.messages()] == [row["id"]]
    async with db.connect() as conn:
        left = await conn.scalar(
            text("SELECT count(*) FROM domain_events WHERE id = :id"), {"id": row["id"]}
        )
    assert left == 0


async def _is(cluster: PrivateCluster, name: str, value: str) -> bool:
    return await _setting(cluster, name) == value


async def test_batches_recorded_behind_the_publish_are_all_deleted_counted_and_confirmed(
    runtime: Runtime,
) -> None:
    """Batches of 10 from 60 one-event commits: each batch's DELETE, count and confirmation
    run behind the next publish; when the pass returns every row is gone, every event counted
    once, and the slot confirmed past the last commit."""
    db = runtime.db
    broker = MemoryBroker("wal-behind")
    relay = WalRelay(db, broker, listen=False, batch_size=10)
    await relay.publish_pending()
    ids = await emit_events(db, 60, per_transaction=1)
    async with db.connect() as conn:
        last = await conn.scalar(text("SELECT pg_current_wal_insert_lsn()::text"))
    result = await relay.publish_pending()
    assert (result.published, result.batches) == (60, 6)
    assert [m.message.id for m in broker.messages()] == ids
    after = await outbox_status(db, 0)
    assert (after.counts["pending"], after.counts["published"]) == (0, 60)
    async with db.connect() as conn:
        passed = await conn.scalar(
            text(
                "SELECT confirmed_flush_lsn >= CAST(CAST(:lsn AS text) AS pg_lsn) "
                "FROM pg_replication_slots "
                "WHERE slot_name = :slot"
            ),
            {"lsn": last, "slot": runtime.settings.relay.slot},
        )
    assert passed is True


async def test_a_commit_without_events_is_not_confirmed_past_a_batch_still_being_recorded(
    runtime: Runtime,
) -> None:
    """The batch's record is held (another session locks the slot's counter row); the pass's
    mark, a transaction without events, arrives meanwhile: the position confirmed to the server
    stays before the batch until its record commits, so a relay killed now would send it
    again rather than leave its rows pending."""
    db = runtime.db
    broker = MemoryBroker("wal-record-held")
    relay = WalRelay(db, broker, listen=False, batch_size=5)  # the mark comes in a batch of its own
    await relay.publish_pending()
    ids = await emit_events(db, 5)
    async with db.connect() as conn:
        after_events = int(
            await conn.scalar(text("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')"))
        )
    blocker = await db.engine.connect()
    await blocker.begin()
    await blocker.execute(
        text("SELECT 1 FROM outbox_wal_slots WHERE slot = :slot FOR UPDATE"),
        {"slot": runtime.settings.relay.slot},
    )
    draining = asyncio.create_task(relay.publish_pending())
    try:
        stream = await eventually(lambda: relay.stream, "the relay's stream")
        await eventually(lambda: stream.handed > after_events, "the mark taken")
        assert [m.message.id for m in broker.messages()] == ids
        assert stream.confirmed < after_events
        assert not draining.done()
    finally:
        await blocker.rollback()
        await blocker.close()
    result = await asyncio.wait_for(draining, 10)
    assert result.published == 5
    async with db.connect() as conn:
        confirmed = int(
            await conn.scalar(
                text(
                    "SELECT pg_wal_lsn_diff(confirmed_flush_lsn, '0/0') FROM pg_replication_slots "
                    "WHERE slot_name = :slot"
                ),
                {"slot": runtime.settings.relay.slot},
            )
        )
    assert confirmed > after_events


async def test_a_held_record_lets_only_so_many_batches_be_published_ahead_of_it(
    runtime: Runtime,
) -> None:
    """While one record is held (its counter row locked), the relay publishes at most
    RECORD_BEHIND more batches and then waits for it: that many is all a relay killed now
    would send again. Released, every event goes out once and is recorded."""
    db = runtime.db
    broker = MemoryBroker("wal-record-bound")
    batch = 5
    relay = WalRelay(db, broker, listen=False, batch_size=batch)
    await relay.publish_pending()
    total = (RECORD_BEHIND + 3) * batch
    ids = await emit_events(db, total, per_transaction=batch)
    blocker = await db.engine.connect()
    await blocker.begin()
    await blocker.execute(
        text("SELECT 1 FROM outbox_wal_slots WHERE slot = :slot FOR UPDATE"),
        {"slot": runtime.settings.relay.slot},
    )
    waiting = RECORD_BEHIND * batch  # the batches a relay may publish while a record is held
    draining = asyncio.create_task(relay.publish_pending())
    try:
        await eventually(lambda: len(broker.messages()) >= waiting, "the batches ahead published")
        stream = await eventually(lambda: relay.stream, "the relay's stream")
        await eventually(lambda: stream.buffered, "more events ready on the stream")
        # the held record's own batch, when the recorder had taken it, and the ones waiting
        assert len(broker.messages()) in (waiting, waiting + batch)
        assert not draining.done()
    finally:
        await blocker.rollback()
        await blocker.close()
    result = await asyncio.wait_for(draining, 10)
    assert result.published == total
    assert [m.message.id for m in broker.messages()] == ids
    after = await outbox_status(db, 0)
    assert (after.counts["pending"], after.counts["published"]) == (0, total)


async def test_a_running_relay_whose_stream_is_cut_opens_it_again_and_loses_nothing(
    runtime: Runtime,
) -> None:
    """The server ends the relay's replication connection (as a restart or a network cut
    would) while the loop runs: the relay reopens the stream at the slot's position, keeps the
    slot, and the events committed before and after the cut all reach the broker in order."""
    db = runtime.db
    broker = MemoryBroker("wal-cut-stream")
    relay = WalRelay(db, broker, status_interval=0, policy=FAST)
    task = asyncio.create_task(relay.run())
    try:
        first_stream = await eventually(lambda: relay.stream, "the relay's stream")
        before = await emit_events(db, 3)
        await eventually(lambda: len(broker.messages()) >= 3, "the first events published")
        async with db.connect() as conn:
            await conn.execute(
                text("SELECT pg_terminate_backend(:pid)"), {"pid": first_stream.backend_pid}
            )
        after = await emit_events(db, 3)
        await eventually(
            lambda: relay.stream is not None and relay.stream is not first_stream,
            "a new stream",
        )
        # The first batch may go again after the cut, so count the events, not the messages.
        await eventually(
            lambda: set(after) <= {m.message.id for m in broker.messages()},
            "the later events published",
        )
        assert relay.owner
        relay.stop()
        await task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    published = [m.message.id for m in broker.messages()]
    assert list(dict.fromkeys(published)) == before + after  # a batch cut unconfirmed goes again
    async with db.connect() as conn:
        left = await conn.scalar(text("SELECT count(*) FROM domain_events"))
    assert left == 0
