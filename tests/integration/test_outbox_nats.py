"""The relay publishing to a real NATS JetStream: streams per aggregate type, the event id as
``Nats-Msg-Id`` (the server drops a duplicate), a down server keeps events pending."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import pytest

from qulab.core.db import Database
from qulab.core.models import EventStatus
from qulab.core.outbox import NatsPublisher, OutboxMessage, Relay, RetryPolicy, publish_pending
from qulab.core.outbox.nats import jetstream_name
from tests import services
from tests.outbox_helpers import all_events, emit_events
from tests.waiting import eventually

FAST = RetryPolicy(max_attempts=3, base=0.01, cap=0.1, jitter=0.5)


@pytest.fixture
async def nats_prefix(nats_url: str) -> AsyncIterator[str]:
    """A subject and stream prefix of this test; its streams are deleted afterwards."""
    prefix = services.unique_name("qt") + "_"
    yield prefix
    await services.delete_nats_streams(prefix)


async def stream_messages(
    prefix: str, aggregate_type: str, url: str = services.NATS_URL
) -> list[Any]:
    """Every message stored in one aggregate type's stream, in stream order."""
    client = await nats.connect(url, connect_timeout=5, allow_reconnect=False)
    try:
        js = client.jetstream()
        name = jetstream_name(aggregate_type, prefix)
        info = await js.stream_info(name)
        return [
            await js.get_msg(name, seq)
            for seq in range(info.state.first_seq, info.state.last_seq + 1)
            if info.state.messages
        ]
    finally:
        await client.close()


async def test_events_land_on_their_aggregate_stream_with_the_event_id_as_msg_id(
    db: Database, nats_prefix: str
) -> None:
    ids = await emit_events(db, 5, aggregate_type="AIRScore")
    sender = NatsPublisher(services.NATS_URL, prefix=nats_prefix, timeout=5)
    try:
        result = await publish_pending(db, sender)
    finally:
        await sender.close()

    assert result.published == 5
    stored = await stream_messages(nats_prefix, "AIRScore")
    assert [m.headers["Nats-Msg-Id"] for m in stored] == ids
    first = stored[0]
    assert first.subject == f"{nats_prefix}outbox.event.AIRScore.test.happened"
    assert first.headers["Qulab-Aggregate-Type"] == "AIRScore"
    assert first.data == b'{"n": 0}'
    assert {e.status for e in await all_events(db)} == {EventStatus.PUBLISHED.value}


async def test_the_same_event_published_twice_is_one_message_in_the_stream(
    nats_prefix: str,
) -> None:
    message = OutboxMessage(
        id="6f1f7c8e-0000-4000-8000-000000000001",
        type="score.calculated",
        aggregate_type="AIRScore",
        aggregate_id="score-1",
        occurred_at=datetime.now(UTC),
        payload_json='{"air_score": 71.5}',
        sequence=1,
    )
    sender = NatsPublisher(services.NATS_URL, prefix=nats_prefix, timeout=5)
    try:
        assert await sender.publish([message]) == {}
        assert await sender.publish([message, message]) == {}
    finally:
        await sender.close()
    stored = await stream_messages(nats_prefix, "AIRScore")
    assert [m.headers["Nats-Msg-Id"] for m in stored] == [message.id]


async def test_unreachable_nats_is_an_outage_named_without_its_password(db: Database) -> None:
    [event_id] = await emit_events(db, 1)
    url = f"nats://lab:S3cretPW@127.0.0.1:{services.free_port()}"
    sender = NatsPublisher(url, timeout=1)
    try:
        result = await publish_pending(db, sender)
    finally:
        await sender.close()
    assert result.outage is not None and "NATS at nats://lab:***@127.0.0.1" in result.outage
    assert "S3cretPW" not in result.outage
    assert (result.published, result.retried, result.dead) == (0, 1, 0)
    [event] = await all_events(db)
    assert (event.id, event.status, event.attempts) == (event_id, "pending", 1)
    assert "S3cretPW" not in (event.last_error or "")


@pytest.fixture
def own_nats(tmp_path: Path, nats_url: str) -> Iterator[tuple[str, list[str]]]:
    """A nats-server of this test on a free port: (url, the command that starts it). It asks
    for ``nats_url`` to run only where NATS does, and be marked so."""
    binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
    if not Path(binary).exists():
        services.unavailable("nats-server", "binary not found")
    port = services.free_port()
    command = [binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(tmp_path)]
    yield f"nats://127.0.0.1:{port}", command


async def _start(command: list[str], url: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    async def up() -> bool:
        try:
            client = await nats.connect(url, connect_timeout=1, allow_reconnect=False)
        except Exception:
            return False
        try:
            await client.jetstream().account_info()
            return True
        except Exception:
            return False
        finally:
            await client.close()

    await eventually(up, "nats-server to answer with JetStream", timeout=20, interval=0.1)
    return process


async def test_broker_down_keeps_events_pending_and_all_publish_when_it_returns(
    db: Database, own_nats: tuple[str, list[str]]
) -> None:
    url, command = own_nats
    server = await _start(command, url)
    sender = NatsPublisher(url, prefix="qt_", timeout=2)
    relay = Relay(db, sender, interval=0.05, policy=FAST, publish_timeout=3)
    task = asyncio.create_task(relay.run())
    try:
        server.kill()
        server.wait()
        ids = await emit_events(db, 20)

        async def recorded_failures() -> bool:
            events = await all_events(db)
            return all(e.attempts >= 1 and e.last_error for e in events)

        await eventually(recorded_failures, "a failed attempt recorded on every event", timeout=20)
        assert all(e.status == EventStatus.PENDING.value for e in await all_events(db))
        assert not task.done()

        server = await _start(command, url)

        async def all_published() -> bool:
            return all(e.status == EventStatus.PUBLISHED.value for e in await all_events(db))

        await eventually(all_published, "every event to be published", timeout=30)
        stored = await stream_messages("qt_", "Test", url)
        assert sorted(m.headers["Nats-Msg-Id"] for m in stored) == sorted(ids)
    finally:
        relay.stop()
        await asyncio.wait_for(task, 10)
        await sender.close()
        server.kill()
        server.wait()
