"""The status lines of a running relay and consumer: what they count, and that they come."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from qulab.core.config import Settings
from qulab.core.consumers import Consumer, MemorySource
from qulab.core.db import Database
from qulab.core.models import DomainEvent, EventStatus
from qulab.core.outbox import MemoryBroker, Relay, RetryPolicy, publish_pending
from qulab.platform.projection import ScoreSummaryProjection
from tests.consumer_support import scored_users
from tests.outbox_helpers import RejectingPublisher, emit_events
from tests.relay_process import start_relay, stop
from tests.waiting import eventually

ONE_TRY = RetryPolicy(max_attempts=1, base=60, cap=60, jitter=0)
LATER = RetryPolicy(max_attempts=5, base=60, cap=60, jitter=0)


def _status_lines(caplog: pytest.LogCaptureFixture, subject: str) -> list[dict[str, Any]]:
    """The fields of each status line ``subject`` logged, with its message."""
    return [
        vars(record) | {"message": record.getMessage()}
        for record in caplog.records
        if getattr(record, "status", None) == subject
    ]


async def _oldest_pending(db: Database) -> datetime:
    async with db.session() as session:
        statement = select(func.min(DomainEvent.created_at)).where(
            DomainEvent.status == EventStatus.PENDING.value
        )
        oldest = (await session.execute(statement)).scalar_one()
    assert oldest is not None
    return oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)


async def test_the_relay_status_counts_its_published_and_the_outbox_retrying_failed_pending(
    db: Database,
) -> None:
    broker = MemoryBroker("status", 100)
    [dead] = await emit_events(db, 1)
    await Relay(db, RejectingPublisher(broker, {dead}), policy=ONE_TRY).publish_pending()
    retried, _ = await emit_events(db, 2)
    relay = Relay(db, RejectingPublisher(broker, {retried}), policy=LATER, listen=False)
    await relay.publish_pending()
    await emit_events(db, 1)
    oldest = await _oldest_pending(db)

    line = await relay.status(now=oldest + timedelta(seconds=7.5))

    assert line.text().startswith(
        "relay status: published 1, retrying 1, failed 1, pending 2, lag 7.5s"
    )
    fields = line.fields()
    assert {k: fields[k] for k in ("published", "retrying", "failed", "pending")} == {
        "published": 1,
        "retrying": 1,
        "failed": 1,
        "pending": 2,
    }
    assert fields["lag_seconds"] == pytest.approx(7.5)
    if db.dialect == "postgresql":  # an ordered relay says which partitions it holds
        assert {"relay", "partitions"} <= set(fields)


async def test_a_running_relay_logs_its_status_every_interval(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="qulab.core.outbox.relay")
    relay = Relay(db, MemoryBroker("status", 100), interval=0.05, status_interval=0.01)
    running = asyncio.create_task(relay.run())
    try:
        await emit_events(db, 3)

        def caught_up() -> dict[str, Any] | None:
            lines = _status_lines(caplog, "relay status")
            return next((f for f in lines if (f["published"], f["pending"]) == (3, 0)), None)

        fields = await eventually(caught_up, "a status line with the 3 events published")
    finally:
        relay.stop()
        await asyncio.wait_for(running, 30)
    assert fields["levelno"] == logging.INFO
    assert fields["message"].startswith(
        "relay status: published 3, retrying 0, failed 0, pending 0, lag 0.0s"
    )


async def test_a_relay_with_status_lines_off_logs_none(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="qulab.core.outbox.relay")
    broker = MemoryBroker("status", 100)
    relay = Relay(db, broker, interval=0.01, status_interval=0)
    running = asyncio.create_task(relay.run())
    try:
        await emit_events(db, 2)
        await eventually(lambda: relay.totals.published == 2, "the events published")
        await emit_events(db, 2)
        await eventually(lambda: relay.totals.published == 4, "more events published")
        writers = [t for t in asyncio.all_tasks() if t.get_name() == "qulab relay: status line"]
    finally:
        relay.stop()
        await asyncio.wait_for(running, 30)
    assert writers == []
    assert not [r for r in caplog.records if hasattr(r, "status")]


async def test_the_consumer_status_counts_applied_duplicates_rejected_and_what_waits(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="qulab.core.consumers.runner")
    broker = MemoryBroker("status", 1000)
    await scored_users(db, [1, 1])
    await publish_pending(db, broker)
    source = MemorySource(broker, aggregate_types=ScoreSummaryProjection.aggregate_types)
    consumer = Consumer(db, source, ScoreSummaryProjection(), group="g1", wait=0.05)
    first = await consumer.run_once()
    before = broker.total
    await scored_users(db, [1])
    await publish_pending(db, broker)

    line = await consumer.report_status()

    waiting = broker.total - before
    assert waiting > 0
    assert line.text().startswith(
        f"consumer status: processed {first.processed}, duplicates 0, rejected 0, "
        f"pending {waiting}, lag "
    )
    assert line.text().endswith("; consumer=score-summary consumer_group=g1")
    assert line.lag_seconds is not None and line.lag_seconds >= 0
    [fields] = _status_lines(caplog, "consumer status")
    assert (fields["processed"], fields["pending"], fields["consumer_group"]) == (
        first.processed,
        waiting,
        "g1",
    )


async def test_a_running_consumer_logs_its_status_every_interval(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="qulab.core.consumers.runner")
    broker = MemoryBroker("status", 1000)
    await scored_users(db, [2])
    await publish_pending(db, broker)
    kinds = ScoreSummaryProjection.aggregate_types
    expected = sum(1 for d in broker.messages() if d.message.aggregate_type in kinds)
    source = MemorySource(broker, aggregate_types=kinds)
    consumer = Consumer(db, source, ScoreSummaryProjection(), wait=0.05, status_interval=0.01)
    running = asyncio.create_task(consumer.run())
    try:

        def caught_up() -> dict[str, Any] | None:
            lines = _status_lines(caplog, "consumer status")
            return next((f for f in lines if f["processed"] == expected), None)

        fields = await eventually(caught_up, "a status line with every event applied")
    finally:
        consumer.stop()
        await asyncio.wait_for(running, 30)
    assert (fields["pending"], consumer.totals.processed) == (0, expected)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_the_relay_command_writes_json_status_lines_on_stderr(
    db: Database, settings: Settings
) -> None:
    await emit_events(db, 3)
    relay = await start_relay(settings.database.url, log_format="json", status_interval="0.05")
    seen: list[str] = []
    try:
        assert relay.stderr is not None
        async with asyncio.timeout(30):
            while True:
                line = (await relay.stderr.readline()).decode()
                assert line, "".join(seen)
                seen.append(line)
                if not line.startswith("{"):
                    continue
                entry = json.loads(line)
                if entry.get("status") == "relay status" and entry["published"] == 3:
                    break
        code = await stop(relay, seen)
    finally:
        if relay.returncode is None:
            relay.kill()
            await relay.wait()
    assert code == 0, "".join(seen)
    assert set(entry) >= {"timestamp", "level", "logger", "message", "pending", "lag_seconds"}
    assert (entry["level"], entry["logger"]) == ("INFO", "qulab.core.outbox.relay")
    assert entry["message"].startswith("relay status: published 3, retrying 0, failed 0")
