"""Consumers on the real brokers: a consumer SIGKILLed after its commit and before its ack gets
its events delivered again (Redis: another member's XAUTOCLAIM; RabbitMQ: the closed channel
hands them back; NATS: the ack wait runs out), and the inbox turns every one into a counted
duplicate, never a second effect."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aio_pika
import pytest
from redis.asyncio import Redis

from qulab.core.config import Settings
from qulab.core.consumers import Consumer, RabbitMQSource, build_source, inbox_counts
from qulab.core.db import Database
from qulab.core.outbox import build_publisher, publish_pending, stream_name
from qulab.platform.projection import ScoreSummaryProjection, projection_differences
from tests import services
from tests.consumer_support import run_dying_consumer, scored_users, summaries
from tests.waiting import eventually

pytestmark = pytest.mark.parametrize("backend", ["postgresql"])

GROUP = "score-summary"


@dataclass
class Broker:
    kind: str
    url: str
    env: dict[str, str]  # QULAB_* settings naming this test's streams / exchange


@pytest.fixture(params=["redis", "rabbitmq", "nats"])
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    kind = str(request.param)
    tag = services.unique_name("qt")
    if kind == "redis":
        url = str(request.getfixturevalue("redis_url"))
        prefix = tag + ":"
        yield Broker(
            kind,
            url,
            {"QULAB_OUTBOX_STREAM_PREFIX": prefix, "QULAB_CONSUMER_CLAIM_IDLE": "0.3"},
        )
        await services.delete_redis_prefix(prefix, url)
    elif kind == "rabbitmq":
        url = str(request.getfixturevalue("amqp_url"))
        exchange = tag + ".outbox"
        yield Broker(kind, url, {"QULAB_OUTBOX_EXCHANGE": exchange})
        connection = await aio_pika.connect(url, timeout=5)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(f"{exchange}.{GROUP}")
            await channel.exchange_delete(exchange)
    else:
        url = str(request.getfixturevalue("nats_url"))
        prefix = tag + "_"
        yield Broker(
            kind,
            url,
            {"QULAB_OUTBOX_STREAM_PREFIX": prefix, "QULAB_CONSUMER_ACK_WAIT": "1"},
        )
        await services.delete_nats_streams(prefix, url)


def settings_for(db: Database, broker: Broker) -> Settings:
    fields: dict[str, Any] = {k.removeprefix("QULAB_").lower(): v for k, v in broker.env.items()}
    return Settings().replace(
        database_url=db.settings.database.url, broker_url=broker.url, **fields
    )


async def test_a_consumer_killed_after_commit_before_ack_causes_no_double_effect(
    db: Database, broker: Broker
) -> None:
    settings = settings_for(db, broker)
    handler = ScoreSummaryProjection()
    if broker.kind == "rabbitmq":  # the group's queue exists before anything is published
        queue = RabbitMQSource(broker.url, group=GROUP, exchange=settings.broker.exchange)
        await queue.start()
        await queue.close()
    users = await scored_users(db, [3, 2])
    publisher = build_publisher(broker.url, settings)
    try:
        assert (await publish_pending(db, publisher)).published == 7
    finally:
        await publisher.close()

    env = broker.env | {"QULAB_DATABASE_URL": settings.database.url, "QULAB_BROKER_URL": broker.url}
    code, said = await run_dying_consumer(GROUP, env)
    assert code == -9, said
    assert "dying before the ack" in said
    [(applied, duplicates)] = (await inbox_counts(db)).values()
    assert applied >= 1 and duplicates == 0

    if broker.kind == "redis":
        await _pending_in_group(settings.broker.stream_prefix, applied)
    source = build_source(
        broker.url, settings, group=GROUP, aggregate_types=handler.aggregate_types
    )
    consumer = Consumer(db, source, handler, wait=0.2)
    task = asyncio.create_task(consumer.run())
    try:

        async def everything_applied_and_redelivered() -> bool:
            counts = (await inbox_counts(db)).get(GROUP, (0, 0))
            return counts == (7, applied)

        await eventually(
            everything_applied_and_redelivered,
            "7 events applied and the unacknowledged ones redelivered",
            timeout=30,
            interval=0.1,
        )

        async def nothing_waits() -> bool:
            return (await source.lag()).total == 0

        await eventually(nothing_waits, "no lag on the source", timeout=15, interval=0.1)
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 10)
        await source.close()

    assert (consumer.totals.processed, consumer.totals.duplicates) == (7 - applied, applied)
    assert await projection_differences(db) == []
    rows = await summaries(db)
    assert [rows[user_id].score_count for user_id in users] == [3, 2]


async def _pending_in_group(prefix: str, expected: int) -> None:
    """The dead member's entries sit in the group's pending list (only XAUTOCLAIM can hand them
    to anyone else)."""
    client = Redis.from_url(services.REDIS_URL)
    try:
        pending = 0
        for kind in ScoreSummaryProjection.aggregate_types:
            summary = await client.xpending(stream_name(kind, prefix), GROUP)
            pending += int(summary["pending"])
        assert pending == expected
    finally:
        await client.aclose()
