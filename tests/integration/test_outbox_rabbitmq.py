"""The relay publishing to a real RabbitMQ: confirms, persistent messages, message ids."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aio_pika

from qulab.core.db import Database
from qulab.core.ids import new_id
from qulab.core.outbox import RabbitMQPublisher, publish_pending, replay
from qulab.core.outbox.retry import RetryPolicy
from qulab.platform.events import OpaqueEvent
from qulab.platform.uow import PlatformUnitOfWork
from tests import services
from tests.outbox_helpers import all_events, emit_events
from tests.waiting import eventually

FAST = RetryPolicy(max_attempts=5, base=0.01, cap=0.05, jitter=0)
ONE_SHOT = RetryPolicy(max_attempts=1)


async def test_consumer_receives_every_message_with_the_event_id_as_message_id(
    db: Database,
    amqp_url: str,
) -> None:
    exchange_name = services.unique_name("qulab_test_exchange")
    ids = await emit_events(db, 30, aggregate_type="AIRScore")
    connection = await aio_pika.connect(amqp_url, timeout=5)
    sender = RabbitMQPublisher(amqp_url, exchange=exchange_name)
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

        received = await _received(queue, 30)
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
    [event] = await all_events(db)
    assert event.id == event_id and event.status == "pending" and event.attempts == 1
    assert "RabbitMQ" in (event.last_error or "")


async def _emit_typed(db: Database, types: list[str]) -> list[str]:
    """One committed event per entry of ``types`` (the routing keys); returns their ids."""
    async with PlatformUnitOfWork(db) as uow:
        ids = [
            uow.record(OpaqueEvent(kind, "Test", new_id(), {"n": n})).id
            for n, kind in enumerate(types)
        ]
        await uow.commit()
    return ids


async def _received(
    queue: aio_pika.abc.AbstractQueue, count: int
) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """The next ``count`` messages on ``queue`` (acked)."""
    received: list[aio_pika.abc.AbstractIncomingMessage] = []

    async def all_received() -> bool:
        while len(received) < count and (message := await queue.get(fail=False)) is not None:
            await message.ack()
            received.append(message)
        return len(received) == count

    await eventually(all_received, f"{count} messages on {queue.name}", timeout=10, interval=0.05)
    return received


async def _drain(queue: aio_pika.abc.AbstractQueue, count: int) -> list[str]:
    """The message ids of the next ``count`` messages on ``queue`` (acked)."""
    return [str(message.message_id) for message in await _received(queue, count)]


@asynccontextmanager
async def _rabbitmq(url: str, exchange_name: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    """A channel for the test's own queues; the exchange is deleted afterwards."""
    connection = await aio_pika.connect(url, timeout=5)
    try:
        channel = await connection.channel()
        try:
            yield channel
        finally:
            await channel.exchange_delete(exchange_name)
    finally:
        await connection.close()


async def test_with_no_queue_bound_events_stay_pending_then_arrive_once_one_is(
    db: Database, amqp_url: str
) -> None:
    exchange_name = services.unique_name("qulab_test_exchange")
    ids = await emit_events(db, 5)
    sender = RabbitMQPublisher(amqp_url, exchange=exchange_name)
    async with _rabbitmq(amqp_url, exchange_name) as channel:
        try:
            first = await publish_pending(db, sender, policy=FAST)
            assert (first.published, first.retried, first.dead) == (0, 5, 0)
            assert first.outage is None
            events = await all_events(db)
            assert [e.status for e in events] == ["pending"] * 5
            assert all(e.attempts == 1 and e.published_at is None for e in events)
            assert all(
                e.last_error
                == f"unroutable (NO_ROUTE): no queue is bound to exchange {exchange_name} "
                "for routing key test.happened"
                for e in events
            )

            exchange = await channel.declare_exchange(
                exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
            )
            queue = await channel.declare_queue(
                services.unique_name("qulab_test_queue"), exclusive=True
            )
            await queue.bind(exchange, routing_key="test.#")

            async def all_published() -> bool:
                await publish_pending(db, sender, policy=FAST)
                return all(e.status == "published" for e in await all_events(db))

            await eventually(all_published, "every event to be published")
            assert sorted(await _drain(queue, 5)) == sorted(ids)
            await queue.delete(if_unused=False, if_empty=False)
        finally:
            await sender.close()


async def test_only_the_unroutable_messages_of_a_batch_wait_and_then_dead_letter(
    db: Database, amqp_url: str
) -> None:
    exchange_name = services.unique_name("qulab_test_exchange")
    types = ["user.created", "score.calculated", "user.updated", "score.calculated"]
    ids = await _emit_typed(db, types)
    sender = RabbitMQPublisher(amqp_url, exchange=exchange_name)
    async with _rabbitmq(amqp_url, exchange_name) as channel:
        try:
            exchange = await channel.declare_exchange(
                exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
            )
            queue = await channel.declare_queue(
                services.unique_name("qulab_test_queue"), exclusive=True
            )
            await queue.bind(exchange, routing_key="user.*")

            result = await publish_pending(db, sender, policy=ONE_SHOT)
            assert (result.published, result.retried, result.dead) == (2, 0, 2)
            status = {e.id: e.status for e in await all_events(db)}
            assert status == {
                ids[0]: "published",
                ids[1]: "failed",
                ids[2]: "published",
                ids[3]: "failed",
            }
            assert await _drain(queue, 2) == [ids[0], ids[2]]
            assert await queue.get(fail=False) is None

            # The dead letter is kept and goes out once something listens for it.
            await queue.bind(exchange, routing_key="score.*")
            assert await replay(db, (), failed=True) == 2
            again = await publish_pending(db, sender, policy=ONE_SHOT)
            assert (again.published, again.dead) == (2, 0)
            assert await _drain(queue, 2) == [ids[1], ids[3]]
            await queue.delete(if_unused=False, if_empty=False)
        finally:
            await sender.close()
