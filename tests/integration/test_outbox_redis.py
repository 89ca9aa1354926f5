"""The relay publishing to real Redis Streams (and PostgreSQL-specific relay behaviour)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.core.errors import BrokerUnavailable
from qulab.core.models import EventStatus
from qulab.core.outbox import (
    OutboxMessage,
    RedisStreamsPublisher,
    Relay,
    RetryPolicy,
    publish_pending,
    stream_name,
)
from tests import services
from tests.outbox_helpers import all_events, emit_events
from tests.service_calls import create_user
from tests.waiting import eventually

FAST = RetryPolicy(max_attempts=3, base=0.01, cap=0.1, jitter=0.5)


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A stream prefix of this test; every key under it is deleted afterwards."""
    prefix = services.unique_name("qulab_test") + ":"
    yield prefix
    await services.delete_redis_prefix(prefix)


def publisher(prefix: str, url: str = services.REDIS_URL) -> RedisStreamsPublisher:
    return RedisStreamsPublisher(url, prefix=prefix, timeout=2.0)


async def stream_entries(prefix: str, aggregate_type: str) -> list[dict[str, str]]:
    return [fields for _, fields in await services.read_stream(stream_name(aggregate_type, prefix))]


async def test_events_land_on_their_aggregate_stream_with_the_documented_fields(
    db: Database, redis_prefix: str
) -> None:
    user = await create_user(db, email="grace@example.com", name="Grace")
    ids = await emit_events(db, 3, aggregate_type="AIRScore")
    sender = publisher(redis_prefix)
    try:
        result = await publish_pending(db, sender)
    finally:
        await sender.close()

    assert result.published == 4
    [user_entry] = await stream_entries(redis_prefix, "User")
    assert set(user_entry) == {
        "id",
        "type",
        "aggregate_type",
        "aggregate_id",
        "occurred_at",
        "payload",
    }
    assert (user_entry["type"], user_entry["aggregate_id"]) == ("user.created", user.id)
    assert '"email": "grace@example.com"' in user_entry["payload"]
    scores = await stream_entries(redis_prefix, "AIRScore")
    assert [entry["id"] for entry in scores] == ids


async def test_redis_rejecting_one_stream_dead_letters_only_its_events(
    db: Database, redis_prefix: str
) -> None:
    client = Redis.from_url(services.REDIS_URL)
    await client.set(stream_name("Poison", redis_prefix), "not a stream")  # XADD -> WRONGTYPE
    await client.aclose()
    good = await emit_events(db, 4, aggregate_type="Good")
    [bad] = await emit_events(db, 1, aggregate_type="Poison")
    sender = publisher(redis_prefix)
    try:
        for _ in range(FAST.max_attempts):
            await publish_pending(db, sender, policy=FAST)
            await asyncio.sleep(FAST.cap)
    finally:
        await sender.close()

    events = {e.id: e for e in await all_events(db)}
    assert events[bad].status == EventStatus.FAILED.value
    assert events[bad].attempts == FAST.max_attempts
    assert "WRONGTYPE" in (events[bad].last_error or "")
    assert all(events[i].status == EventStatus.PUBLISHED.value for i in good)
    assert [e["id"] for e in await stream_entries(redis_prefix, "Good")] == good


@pytest.fixture
def own_redis(tmp_path: Path, redis_url: str) -> Iterator[tuple[str, list[str]]]:
    """A Redis server of this test on a free port: (url, the command that starts it). It asks
    for ``redis_url`` to run only where Redis does, and be marked so."""
    binary = shutil.which("redis-server")
    if binary is None:
        services.unavailable("redis-server", "binary not found")
    port = services.free_port()
    command = [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", str(tmp_path)]
    yield f"redis://127.0.0.1:{port}/0", command


async def _start(command: list[str], url: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = Redis.from_url(url)

    async def up() -> bool:
        try:
            return bool(await client.ping())
        except OSError:
            return False
        except Exception:
            return False

    try:
        await eventually(up, "redis-server to answer PING")
    finally:
        await client.aclose()
    return process


async def test_broker_down_keeps_events_pending_and_all_publish_when_it_returns(
    db: Database, own_redis: tuple[str, list[str]]
) -> None:
    url, command = own_redis
    server = await _start(command, url)
    sender = publisher("qulab_test:", url)
    relay = Relay(db, sender, interval=0.05, policy=FAST, publish_timeout=3)
    task = asyncio.create_task(relay.run())
    try:
        server.kill()
        server.wait()
        ids = await emit_events(db, 20)

        async def recorded_failures() -> bool:
            events = await all_events(db)
            return all(e.attempts >= 1 and e.last_error for e in events)

        await eventually(recorded_failures, "a failed attempt recorded on every event")
        assert all(e.status == EventStatus.PENDING.value for e in await all_events(db))
        assert not task.done()

        server = await _start(command, url)

        async def all_published() -> bool:
            return all(e.status == EventStatus.PUBLISHED.value for e in await all_events(db))

        await eventually(all_published, "every event to be published", timeout=20)
        entries = await services.read_stream(stream_name("Test", "qulab_test:"), url)
        assert sorted(fields["id"] for _, fields in entries) == sorted(ids)
    finally:
        relay.stop()
        await asyncio.wait_for(task, 10)
        await sender.close()
        server.kill()
        server.wait()


def a_message(aggregate_type: str = "Test") -> OutboxMessage:
    return OutboxMessage(
        id=str(uuid.uuid4()),
        type="test.happened",
        aggregate_type=aggregate_type,
        aggregate_id=str(uuid.uuid4()),
        occurred_at=datetime.now(UTC),
        payload_json='{"n": 1}',
        sequence=1,
    )


async def test_a_pooled_connection_the_server_closed_is_replaced_and_the_batch_lands_once(
    redis_prefix: str,
) -> None:
    sender = publisher(redis_prefix)
    admin = Redis.from_url(services.REDIS_URL)
    try:
        first = [a_message() for _ in range(3)]
        assert await sender.publish(first) == {}
        assert isinstance(sender.client, Redis)
        pool = sender.client.connection_pool
        pooled = await pool.get_connection()
        try:
            await pooled.send_command("CLIENT", "ID")
            connection_id = await pooled.read_response()
        finally:
            await pool.release(pooled)
        assert await admin.client_kill_filter(_id=connection_id) == 1

        second = [a_message() for _ in range(3)]
        assert await sender.publish(second) == {}
    finally:
        await sender.close()
        await admin.aclose()
    entries = await stream_entries(redis_prefix, "Test")
    assert [entry["id"] for entry in entries] == [m.id for m in first + second]


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        (["--maxmemory", "1", "--maxmemory-policy", "noeviction"], "OutOfMemoryError"),
        (["--replicaof", "127.0.0.1", "1"], "ReadOnlyError"),
    ],
    ids=["out-of-memory", "read-only-replica"],
)
async def test_a_server_that_refuses_every_write_is_an_outage_not_a_failed_message(
    own_redis: tuple[str, list[str]], setting: list[str], reason: str
) -> None:
    url, command = own_redis
    server = await _start([*command, *setting], url)
    sender = publisher("qulab_test:", url)
    try:
        with pytest.raises(BrokerUnavailable, match=f"refuses writes: {reason}"):
            await sender.publish([a_message(), a_message()])
    finally:
        await sender.close()
        server.kill()
        server.wait()


# -- PostgreSQL only ---------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_four_relays_publish_2000_events_exactly_once(
    db: Database, redis_prefix: str
) -> None:
    ids = await emit_events(db, 2000)
    databases = [
        Database(Settings().replace(database_url=db.settings.database.url)) for _ in range(4)
    ]
    senders = [publisher(redis_prefix) for _ in range(4)]
    relays = [
        Relay(database, sender, batch_size=50, listen=False)
        for database, sender in zip(databases, senders, strict=True)
    ]
    try:
        results = await asyncio.gather(*(relay.publish_pending() for relay in relays))
    finally:
        for sender in senders:
            await sender.close()
        for database in databases:
            await database.dispose()

    assert sum(result.published for result in results) == 2000
    on_stream = Counter(entry["id"] for entry in await stream_entries(redis_prefix, "Test"))
    assert set(on_stream) == set(ids)
    assert set(on_stream.values()) == {1}
    assert {e.status for e in await all_events(db)} == {EventStatus.PUBLISHED.value}


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_notify_wakes_the_relay_long_before_its_poll_interval(
    db: Database, redis_prefix: str
) -> None:
    sender = publisher(redis_prefix)
    relay = Relay(db, sender, interval=30)
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: relay.listening, "the relay to LISTEN")
        await asyncio.sleep(0.1)  # the first pass has run; the relay now sleeps for 30 s
        [event_id] = await emit_events(db, 1)
        loop = asyncio.get_running_loop()
        committed = loop.time()

        async def on_stream() -> bool:
            return [e["id"] for e in await stream_entries(redis_prefix, "Test")] == [event_id]

        # Without NOTIFY the event would wait for the 30 s poll.
        await eventually(on_stream, "the event on its stream", timeout=5, interval=0.01)
        assert loop.time() - committed < 30
    finally:
        relay.stop()
        await asyncio.wait_for(task, 10)
        await sender.close()


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_claim_query_walks_the_pending_index_on_postgresql(db: Database) -> None:
    await emit_events(db, 3000, per_transaction=1000)
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE domain_events SET status = 'published'"))
        await conn.execute(
            text("UPDATE domain_events SET status = 'pending' WHERE sequence % 100 = 0")
        )
        await conn.execute(text("ANALYZE domain_events"))
    from qulab.core.models import utcnow
    from qulab.core.outbox import repository

    compiled = repository.CLAIM_LOCKED.compile(
        dialect=db.engine.dialect, compile_kwargs={"render_postcompile": True}
    )
    async with db.engine.connect() as conn:
        plan = await conn.exec_driver_sql("EXPLAIN " + str(compiled), (utcnow(), 100))
        lines = "\n".join(row[0] for row in plan.all())
    assert "ix_events_pending_sequence" in lines
    assert "Seq Scan" not in lines
