"""Page 5: a score and its pending event, one-pass and background publishing, the simulated
broker outage, and the messages as a consumer receives them."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import threading
from typing import Any

import aio_pika
import pytest
from redis.asyncio import Redis
from sqlalchemy import select, text
from streamlit.testing.v1 import AppTest

from qulab.core.config import Settings
from qulab.core.consumers import queue_name
from qulab.core.db import Database
from qulab.core.models import DomainEvent
from qulab.core.outbox import PassResult
from qulab.core.outbox.guard import RelayGuard
from qulab.entrypoints.app.navigation import CONNECTIVITY, EVENTING
from qulab.entrypoints.app.outbox_lab_view import LAB_MODE_KEY
from qulab.entrypoints.app.projection_control import LAB_GROUP
from qulab.entrypoints.app.sections.connectivity import SETUP_LABEL
from qulab.entrypoints.app.sections.eventing import OUTAGE_KEY, pass_outcome
from tests import services
from tests.app.helpers import go_to, no_exception, open_runtime, query, restart_server, texts
from tests.waiting import wait_until

EVENT_ID = re.compile(r"DomainEvent \(ID: `([0-9a-f-]{36})`")
WAIT_SECONDS = 30.0


def _initialised_lab() -> AppTest:
    at = go_to(open_runtime(), CONNECTIVITY)
    next(b for b in at.button if b.label == SETUP_LABEL).click().run()
    no_exception(at)
    return go_to(at, EVENTING)


def _calculate(at: AppTest) -> str:
    """Click "Calculate & Store AIRScore" and return the event id the page reports."""
    at.button(key="eventing_calculate").click().run()
    no_exception(at)
    [success] = [text for text in texts(at.success) if text.startswith("AIRScore ")]
    match = EVENT_ID.search(success)
    assert match, success
    assert "recorded as 'pending'" in success
    return match.group(1)


def _frame(at: AppTest, column: str) -> list[dict[str, Any]]:
    """The rows of the table that has ``column`` (pending: next_attempt_at; published:
    published_at; consumer: payload); empty when the page shows no such table."""
    for frame in at.dataframe:
        value = frame.value
        if column in value.columns:
            return list(value.to_dict("records"))
    return []


def _by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in rows}


def _events(url: str) -> dict[str, DomainEvent]:
    async def _read(db: Database) -> dict[str, DomainEvent]:
        async with db.session() as session:
            rows = (await session.scalars(select(DomainEvent))).all()
            return {event.id: event for event in rows}

    return dict(query(url, _read))


def _metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: str(metric.value) for metric in at.metric}


def _sidebar(at: AppTest) -> str:
    return "\n".join(texts(at.sidebar.markdown))


def _publish_until_published(at: AppTest, url: str, event_id: str) -> None:
    """Click "Publish pending now" until the event is published (it may wait out a backoff)."""

    def published() -> bool:
        at.button(key="eventing_one_pass").click().run()
        no_exception(at)
        return _events(url)[event_id].status == "published"

    wait_until(published, f"event {event_id} to be published by one pass", timeout=WAIT_SECONDS)


def test_score_event_goes_pending_then_published_and_survives_an_outage(lab_url: str) -> None:
    at = _initialised_lab()
    no_exception(at)
    assert "publisher stopped" in _sidebar(at)

    # A score and its event, written together: the event is pending.
    first = _calculate(at)
    assert _events(lab_url)[first].status == "pending"
    pending = _by_id(_frame(at, "next_attempt_at"))
    assert pending[first]["status"] == "pending"
    assert pending[first]["attempts"] == 0
    assert pending[first]["created_at"].endswith(" UTC")

    # One pass publishes it: it moves to the published table with its published_at.
    at.button(key="eventing_one_pass").click().run()
    no_exception(at)
    assert any(text.startswith("One pass: ") for text in texts(at.success))
    stored = _events(lab_url)[first]
    assert stored.status == "published"
    assert stored.published_at is not None
    published = _by_id(_frame(at, "published_at"))
    assert published[first]["published_at"].startswith(stored.published_at.strftime("%Y-%m-%d"))
    assert first not in _by_id(_frame(at, "next_attempt_at"))

    # Broker outage: the next event stays pending with an attempt and the error recorded.
    at.toggle(key=OUTAGE_KEY).set_value(True).run()
    no_exception(at)
    assert "outage on" in _sidebar(at)
    second = _calculate(at)
    at.button(key="eventing_one_pass").click().run()
    no_exception(at)
    assert any("The broker is unavailable" in text for text in texts(at.warning))
    stored = _events(lab_url)[second]
    assert stored.status == "pending"
    assert stored.attempts >= 1
    assert "simulated broker outage" in (stored.last_error or "")
    row = _by_id(_frame(at, "next_attempt_at"))[second]
    assert row["attempts"] >= 1
    assert "simulated broker outage" in row["last_error"]
    assert _metrics(at)["Retrying"] == "1"

    # Broker back: the backlog drains.
    at.toggle(key=OUTAGE_KEY).set_value(False).run()
    assert "outage off" in _sidebar(at)
    _publish_until_published(at, lab_url, second)
    assert second in _by_id(_frame(at, "published_at"))
    assert _metrics(at)["Pending"] == "0"

    # What a consumer received: both events, with their ids, types and payloads.
    consumed = _by_id(_frame(at, "payload"))
    assert consumed[first]["type"] == "score.calculated"
    assert consumed[second]["aggregate"].startswith("AIRScore ")
    assert '"air_score"' in consumed[second]["payload"]


def test_background_publisher_publishes_until_stopped(lab_url: str) -> None:
    at = _initialised_lab()
    at.button(key="eventing_start").click().run()
    no_exception(at)
    assert "Event publisher started in the background" in "\n".join(texts(at.success))
    assert _metrics(at)["Publisher"] == "running"
    assert at.button(key="eventing_start").disabled
    assert "publisher running" in _sidebar(at)

    # The page stays usable while it runs: a new score, published by the relay on its own.
    event_id = _calculate(at)
    wait_until(
        lambda: _events(lab_url)[event_id].status == "published",
        "the background publisher to publish the event",
        timeout=WAIT_SECONDS,
    )
    at.run()
    no_exception(at)
    metrics = _metrics(at)
    assert int(metrics["Passes"]) >= 1
    assert int(metrics["Published by it"]) >= 1
    assert event_id in _by_id(_frame(at, "published_at"))
    assert event_id in _by_id(_frame(at, "payload"))

    # An outage while it runs: the relay records the error and keeps the event pending...
    at.toggle(key=OUTAGE_KEY).set_value(True).run()
    during = _calculate(at)
    wait_until(
        lambda: _events(lab_url)[during].attempts >= 1, "a failed attempt", timeout=WAIT_SECONDS
    )
    at.run()
    assert _events(lab_url)[during].status == "pending"
    assert any(line.startswith("**Last error**") for line in texts(at.markdown))
    assert any("simulated broker outage" in block for block in texts(at.code))  # whole
    # ...and drains the backlog by itself once the broker is back.
    at.toggle(key=OUTAGE_KEY).set_value(False).run()
    wait_until(
        lambda: _events(lab_url)[during].status == "published",
        "the backlog to drain",
        timeout=WAIT_SECONDS,
    )

    at.button(key="eventing_stop").click().run()
    no_exception(at)
    assert any(text.startswith("Event publisher stopped") for text in texts(at.warning))
    assert _metrics(at)["Publisher"] == "stopped"
    assert "publisher stopped" in _sidebar(at)

    # Stopped means stopped: a new event stays pending.
    later = _calculate(at)
    at.run()
    assert _events(lab_url)[later].status == "pending"


def test_a_second_relay_on_sqlite_gets_a_message_and_stop_releases_the_lock(
    sqlite_url: str,
) -> None:
    at = _initialised_lab()
    other = RelayGuard(Database(Settings().replace(database_url=sqlite_url)))
    other.acquire()  # another relay (say `qulab outbox relay`) holds this database's outbox
    try:
        at.button(key="eventing_start").click().run()
        no_exception(at)
        [warning] = [t for t in texts(at.warning) if "could not start" in t]
        assert "Only one relay may run on a SQLite database" in warning
        assert _metrics(at)["Publisher"] == "stopped"
    finally:
        other.release()

    at.button(key="eventing_start").click().run()
    assert _metrics(at)["Publisher"] == "running"
    # While it runs, a hand-made pass is told why it cannot run alongside.
    at.button(key="eventing_one_pass").click().run()
    no_exception(at)
    assert any("holds SQLite's single relay lock" in t for t in texts(at.info))

    at.button(key="eventing_stop").click().run()
    assert _metrics(at)["Publisher"] == "stopped"
    again = RelayGuard(Database(Settings().replace(database_url=sqlite_url)))
    again.acquire()  # free again
    again.release()


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.is_alive()}


def test_a_running_publisher_is_stopped_when_the_runtime_is_torn_down(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    before = _threads()
    at = _initialised_lab()
    at.button(key="eventing_start").click().run()
    assert _metrics(at)["Publisher"] == "running"

    caplog.set_level(logging.WARNING)
    restart_server()
    gc.collect()
    assert "qulab-app-loop" not in _threads()
    assert _threads() <= before | {"MainThread"}
    assert "Task was destroyed" not in caplog.text
    lock = RelayGuard(Database(Settings().replace(database_url=sqlite_url)))
    lock.acquire()  # the relay gave the lock back
    lock.release()

    # After the restart the page starts stopped and works.
    again = go_to(open_runtime(), EVENTING)
    no_exception(again)
    assert _metrics(again)["Publisher"] == "stopped"


def test_messages_go_to_the_redis_stream_and_are_read_back_with_xrevrange(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    prefix = services.unique_name("qulab_app_test") + ":"
    monkeypatch.setenv("QULAB_BROKER_URL", redis_url)
    monkeypatch.setenv("QULAB_OUTBOX_STREAM_PREFIX", prefix)
    stream = f"{prefix}outbox.event.AIRScore"
    try:
        at = _initialised_lab()
        no_exception(at)
        assert "Redis Streams" in _sidebar(at)
        event_id = _calculate(at)
        at.button(key="eventing_one_pass").click().run()
        no_exception(at)
        assert _events(sqlite_url)[event_id].status == "published"

        consumed = _by_id(_frame(at, "payload"))
        assert consumed[event_id]["source"] == stream
        assert consumed[event_id]["type"] == "score.calculated"
        entries = asyncio.run(_xrange(stream))
        assert [fields[b"id"].decode() for _, fields in entries] == [event_id]
    finally:
        asyncio.run(services.delete_redis_prefix(prefix))


async def _xrange(stream: str) -> list[Any]:
    client = Redis.from_url(services.REDIS_URL)
    try:
        return list(await client.xrange(stream) or [])
    finally:
        await client.aclose()


def test_an_unreachable_stream_broker_is_reported_as_such_without_its_password(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = services.free_port()
    monkeypatch.setenv("QULAB_BROKER_URL", f"redis://:s3cret@127.0.0.1:{port}/0")
    at = _initialised_lab()
    no_exception(at)

    errors = texts(at.error)
    [consumer] = [text for text in errors if "broker unreachable" in text]
    assert consumer.startswith(f"broker unreachable: redis://:***@127.0.0.1:{port}/0 streams ")
    assert f"connecting to 127.0.0.1:{port}; check that the broker is running" in consumer
    assert consumer.endswith("QULAB_BROKER_URL points at it.")
    assert not any("s3cret" in text or "unexpected" in text for text in errors), errors


async def _delete_exchange(exchange: str) -> None:
    connection = await aio_pika.connect(services.AMQP_URL)
    try:
        channel = await connection.channel()
        await channel.queue_delete(queue_name(exchange, LAB_GROUP))
        await channel.exchange_delete(exchange)
    finally:
        await connection.close()


def _consumed(url: str, event_id: str) -> bool:
    async def _read(db: Database) -> bool:
        async with db.engine.connect() as conn:
            found = await conn.execute(
                text("SELECT count(*) FROM inbox WHERE event_id = :id"), {"id": event_id}
            )
            return bool(found.scalar_one())

    return bool(query(url, _read))


def test_on_rabbitmq_the_lab_binds_its_queue_so_a_pass_publishes_and_its_consumer_reads_it(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, amqp_url: str
) -> None:
    exchange = services.unique_name("qulab_app_test")
    monkeypatch.setenv("QULAB_BROKER_URL", amqp_url)
    monkeypatch.setenv("QULAB_OUTBOX_EXCHANGE", exchange)
    try:
        at = _initialised_lab()
        no_exception(at)
        assert any("declares the queue its own consumer reads" in t for t in texts(at.info))
        event_id = _calculate(at)
        at.button(key="eventing_one_pass").click().run()
        no_exception(at)
        # The two users' creations and the score: all three reach the lab's queue.
        assert "One pass: 3 claimed, 3 published, 0 to retry, 0 dead-lettered." in texts(at.success)
        assert _events(sqlite_url)[event_id].status == "published"
        assert any(t.startswith("3 messages waiting in the lab's queue") for t in texts(at.info))

        # Lab mode starts the lab's consumer on that queue: the event reaches its inbox.
        at.toggle(key=LAB_MODE_KEY).set_value(True).run()
        no_exception(at)
        wait_until(
            lambda: _consumed(sqlite_url, event_id),
            "the lab's consumer to apply the event",
            timeout=WAIT_SECONDS,
        )
    finally:
        _stop_lab_resources()
        asyncio.run(_delete_exchange(exchange))


def _stop_lab_resources() -> None:
    """Stop the lab's consumer (it holds the queue) before the queue is deleted."""
    restart_server()
    gc.collect()


def test_a_pass_that_published_nothing_is_an_error_with_the_whole_reason() -> None:
    reason = (
        "unroutable (NO_ROUTE): no queue is bound to exchange qulab.outbox for routing key "
        "score.calculated"
    )
    kind, text_shown = pass_outcome(PassResult(claimed=9, published=0, retried=8, dead=1), reason)
    assert kind == "error"
    assert text_shown.endswith(f"The broker refused 9 events: {reason}")

    kind, _ = pass_outcome(PassResult(claimed=3, published=2, retried=1), reason)
    assert kind == "warning"
    kind, _ = pass_outcome(PassResult(claimed=3, published=3), None)
    assert kind == "success"


async def test_counts_and_tables_are_read_again_when_a_relay_published_in_between(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qulab.core.outbox import MemoryBroker, publish_pending
    from qulab.entrypoints.app.sections import eventing
    from qulab.platform import outbox_tables
    from tests.outbox_helpers import emit_events

    await emit_events(db, 1)
    real_tables = outbox_tables
    raced: list[int] = []

    async def relay_runs_first(database: Database) -> Any:
        if not raced:  # a relay publishes right between the first pair of reads
            raced.append((await publish_pending(database, MemoryBroker())).published)
        return await real_tables(database)

    monkeypatch.setattr(eventing, "outbox_tables", relay_runs_first)
    status, tables = await eventing.outbox_snapshot(db)
    assert raced == [1]
    assert (status.counts.get("pending", 0), len(tables.pending)) == (0, 0)
    assert (status.counts.get("published", 0), len(tables.published)) == (1, 1)
