"""RabbitMQ hands back what a closed channel had not acknowledged: the next consumer of the
queue gets it marked redelivered, and the inbox makes it a duplicate, not a second effect."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aio_pika
import pytest

from qulab.core.consumers import Consumer, Delivery, RabbitMQSource, apply_once, inbox_counts
from qulab.core.db import Database
from qulab.core.outbox import RabbitMQPublisher, publish_pending
from qulab.platform.projection import ScoreSummaryProjection, projection_differences
from tests import services
from tests.consumer_support import scored_users

GROUP = "score-summary"


@pytest.fixture
async def exchange(amqp_url: str) -> AsyncIterator[str]:
    name = services.unique_name("qt") + ".outbox"
    yield name
    connection = await aio_pika.connect(amqp_url, timeout=5)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(f"{name}.{GROUP}")
        await channel.exchange_delete(name)


async def test_unacknowledged_messages_come_back_after_the_channel_closes(
    db: Database, exchange: str
) -> None:
    first = RabbitMQSource(services.AMQP_URL, group=GROUP, exchange=exchange, prefetch=10)
    await first.start()  # declares the durable queue before anything is published
    await scored_users(db, [2, 1])
    sender = RabbitMQPublisher(services.AMQP_URL, exchange=exchange)
    try:
        assert (await publish_pending(db, sender)).published == 5
    finally:
        await sender.close()

    taken: list[Delivery] = []
    while len(taken) < 5:
        taken += await first.fetch(5, wait=5)
    projection = ScoreSummaryProjection()
    for delivery in taken:  # applied and committed, but never acknowledged
        await apply_once(db, GROUP, delivery, projection.apply)
    assert not any(delivery.redelivered for delivery in taken)
    await first.close()  # the channel closes with five unacknowledged messages

    second = RabbitMQSource(services.AMQP_URL, group=GROUP, exchange=exchange)
    consumer = Consumer(db, second, projection, wait=2)
    try:
        again: list[Delivery] = []
        while len(again) < 5:
            batch = await second.fetch(5, wait=5)
            assert batch, "RabbitMQ did not deliver the unacknowledged messages again"
            await consumer.handle(batch)
            again += batch
        assert all(delivery.redelivered for delivery in again)
        assert sorted(d.event_id for d in again) == sorted(d.event_id for d in taken)
        assert (await second.lag()).undelivered == 0
    finally:
        await second.close()
    assert (consumer.totals.processed, consumer.totals.duplicates) == (0, 5)
    assert await inbox_counts(db) == {GROUP: (5, 5)}
    assert await projection_differences(db) == []
