"""The relay publishing to a real RabbitMQ: confirms, persistent messages, message ids."""

from __future__ import annotations

import asyncio

import aio_pika

from qulab.db import Database
from qulab.outbox import RabbitMQPublisher, publish_pending
from tests import services
from tests.outbox_helpers import emit_events


async def test_consumer_receives_every_message_with_the_event_id_as_message_id(
    db: Database,
) -> None:
    services.require_rabbitmq()
    exchange_name = services.unique_name("qulab_test_exchange")
    ids = await emit_events(db, 30, aggregate_type="AIRScore")
    connection = await aio_pika.connect(services.AMQP_URL, timeout=5)
    sender = RabbitMQPublisher(services.AMQP_URL, exchange=exchange_name)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(
            services.unique_name("qulab_test_queue"), exclusive=True
        )
        await queue.bind(exchange, routing_key="test.#")

        result = await publish_pending(db, sender)
        assert result.published == 30

        received: list[aio_pika.abc.AbstractIncomingMessage] = []
        async with asyncio.timeout(10):
            while len(received) < 30:
                message = await queue.get(fail=False)
                if message is None:
                    await asyncio.sleep(0.05)
                    continue
                await message.ack()
                received.append(message)
        assert [m.message_id for m in received] == ids
        first = received[0]
        assert first.routing_key == "test.happened"
        assert first.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert first.headers["aggregate_type"] == "AIRScore"
        assert first.body == b'{"n": 0}'
        await queue.delete(if_unused=False, if_empty=False)
        await exchange.delete()
    finally:
        await sender.close()
        await connection.close()


async def test_unreachable_rabbitmq_is_an_outage_not_a_dead_letter(db: Database) -> None:
    [event_id] = await emit_events(db, 1)
    url = f"amqp://guest:guest@127.0.0.1:{services.free_port()}/"
    sender = RabbitMQPublisher(url, timeout=1)
    try:
        result = await publish_pending(db, sender)
    finally:
        await sender.close()
    assert result.outage is not None and "RabbitMQ" in result.outage
    assert (result.published, result.retried, result.dead) == (0, 1, 0)
    from tests.outbox_helpers import all_events

    [event] = await all_events(db)
    assert event.id == event_id and event.status == "pending" and event.attempts == 1
    assert "RabbitMQ" in (event.last_error or "")
