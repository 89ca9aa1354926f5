"""Switching between the polling and the log-tailing relay loses nothing, and the slot's
retained WAL shows in ``doctor`` and the metrics (private PostgreSQL, ``wal_level=logical``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import text

from qulab.core.bootstrap import Runtime
from qulab.core.health.check import Status
from qulab.core.health.relay import check_relay
from qulab.core.metrics.outbox import RelayMetrics
from qulab.core.outbox import MemoryBroker, Relay, WalRelay, outbox_status, relay_for
from qulab.lab.private_postgres import PrivateCluster
from qulab.platform.application import bootstrap
from tests.outbox_helpers import emit_events
from tests.wal_helpers import wal_runtime, with_mode


@pytest.fixture
async def runtime(logical_postgres: PrivateCluster) -> AsyncIterator[Runtime]:
    async with wal_runtime(logical_postgres, mode="polling") as rt:
        yield rt


def delivered(broker: MemoryBroker) -> list[str]:
    return [m.message.id for m in broker.messages()]


async def test_polling_then_wal_sends_what_polling_left_then_tails_the_log(
    runtime: Runtime,
) -> None:
    broker = MemoryBroker("wal-switch-1")
    sent = await emit_events(runtime.db, 5)
    polling = relay_for(runtime.db, broker, listen=False, ordered=False)
    assert type(polling) is Relay
    await polling.publish_pending(max_batches=1)  # publishes the first batch of 5
    left = await emit_events(runtime.db, 4)  # pending when the mode changes
    async with bootstrap(with_mode(runtime, "wal")) as wal_runtime_:
        relay = relay_for(wal_runtime_.db, broker, listen=False)
        assert isinstance(relay, WalRelay)
        first = await relay.publish_pending()  # creates the slot, sends the 4 left
        later = await emit_events(wal_runtime_.db, 3)
        second = await relay.publish_pending()
        status = await outbox_status(wal_runtime_.db, 0)
    assert (first.published, second.published) == (4, 3)
    assert delivered(broker) == sent + left + later  # each once, in order
    assert status.counts["pending"] == 0


async def test_wal_then_polling_sends_what_the_slot_had_not_confirmed(
    runtime: Runtime,
) -> None:
    broker = MemoryBroker("wal-switch-2")
    async with bootstrap(with_mode(runtime, "wal")) as wal_runtime_:
        relay = relay_for(wal_runtime_.db, broker, listen=False)
        await relay.publish_pending()
        published = await emit_events(wal_runtime_.db, 3)
        await relay.publish_pending()
    unconfirmed = await emit_events(runtime.db, 4)  # written, no WAL relay reads them now
    polling = relay_for(runtime.db, broker, listen=False)
    result = await polling.publish_pending()
    assert result.published == 4
    assert delivered(broker) == published + unconfirmed
    assert (await outbox_status(runtime.db, 0)).counts["pending"] == 0


async def test_doctor_and_the_metrics_report_the_wal_a_stopped_relay_makes_postgres_keep(
    logical_postgres: PrivateCluster,
) -> None:
    async with wal_runtime(logical_postgres, relay_wal_warn_bytes=64 * 1024) as runtime:
        db = runtime.db
        assert (await check_relay(db)).status == Status.WARN  # no slot yet
        registry = CollectorRegistry()
        metrics = RelayMetrics(registry, 10)
        relay = relay_for(db, MemoryBroker("wal-doctor"), listen=False, metrics=metrics)
        await relay.publish_pending()
        fine = await check_relay(db)
        await emit_events(db, 2000)  # the relay is stopped: the slot keeps this WAL
        warned = await check_relay(db)
        relay.backlog_every = 0.0
        await relay.publish_pending()
        gauge = registry.get_sample_value(
            "qulab_outbox_wal_retained_bytes", {"slot": db.settings.relay.slot}
        )
    assert fine.status == Status.OK and "keeps" in fine.detail
    assert warned.status == Status.WARN
    assert "over 64.0 KiB" in warned.detail and "no relay is decoding it" in warned.detail
    assert gauge is not None and gauge > 0


async def test_a_dropped_slot_is_made_again_and_loses_none_of_the_pending_events(
    logical_postgres: PrivateCluster,
) -> None:
    async with wal_runtime(logical_postgres) as runtime:
        db = runtime.db
        broker = MemoryBroker("wal-dropped")
        await relay_for(db, broker, listen=False).publish_pending()
        first = await emit_events(db, 2)
        await relay_for(db, broker, listen=False).publish_pending()
        waiting = await emit_events(db, 3)  # in the old slot's stream, never confirmed
        async with db.connect() as conn:
            await conn.execute(
                text("SELECT pg_drop_replication_slot(:slot)"), {"slot": "qulab_outbox"}
            )
        result = await relay_for(db, broker, listen=False).publish_pending()
        later = await emit_events(db, 1)
        await relay_for(db, broker, listen=False).publish_pending()
    assert result.published == 3
    assert delivered(broker) == first + waiting + later
