"""``QULAB_EVENT_FORMAT=cloudevents``: what each broker received decodes with the CloudEvents
SDK as a CloudEvents 1.0 event whose ``id`` is the event id (binary mode on RabbitMQ, per the
AMQP binding, and on NATS, per the NATS binding's ``ce-`` headers; structured JSON on Redis
Streams), and QuLab's consumers read it back as the same delivery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aio_pika
import pytest
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings import amqp, http
from cloudevents.core.formats.json import JSONFormat
from redis.asyncio import Redis

from qulab.core.config import Settings
from qulab.core.consumers import Delivery, build_source
from qulab.core.ids import new_id
from qulab.core.outbox import OutboxMessage, build_publisher, stream_name
from qulab.core.outbox.nats import JetStream, jetstream_name, subject
from tests import services

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
GROUP = "cloudevents"


def _message() -> OutboxMessage:
    return OutboxMessage(
        id=new_id(),
        type="user.updated",
        aggregate_type="User",
        aggregate_id=new_id(),
        occurred_at=datetime(2026, 12, 4, 23, 30, 1, 250000, tzinfo=UTC),
        payload_json='{"name": "Ada", "n": 1}',
        sequence=1,
        trace_context={"traceparent": TRACEPARENT},
    )


def _assert_is_the_event(event: BaseCloudEvent, message: OutboxMessage) -> None:
    assert event.get_specversion() == "1.0"
    assert event.get_id() == message.id
    assert event.get_type() == "user.updated"
    assert event.get_source() == "/qulab"
    assert event.get_subject() == message.aggregate_id
    assert event.get_time() == message.occurred_at
    assert event.get_datacontenttype() == "application/json"
    assert event.get_data() == {"name": "Ada", "n": 1}
    assert event.get_extension("aggregatetype") == "User"
    assert event.get_extension("partitionkey") == message.aggregate_id
    assert event.get_extension("traceparent") == TRACEPARENT


def _assert_delivered(delivery: Delivery, message: OutboxMessage) -> None:
    assert (delivery.event_id, delivery.type, delivery.aggregate_type) == (
        message.id,
        "user.updated",
        "User",
    )
    assert delivery.aggregate_id == message.aggregate_id
    assert delivery.occurred_at == message.occurred_at
    assert delivery.payload == {"name": "Ada", "n": 1}
    assert delivery.trace_context == {"traceparent": TRACEPARENT}


async def _publish(settings: Settings, message: OutboxMessage) -> None:
    publisher = build_publisher(settings=settings)
    try:
        assert await publisher.publish([message]) == {}
    finally:
        await publisher.close()


async def _consume(settings: Settings) -> list[Delivery]:
    source = build_source(None, settings, group=GROUP, aggregate_types=("User",))
    try:
        await source.start()
        deliveries = await source.fetch(10, 2.0)
        await source.ack(deliveries)
        return deliveries
    finally:
        await source.close()


@pytest.fixture
async def redis_settings(redis_url: str) -> AsyncIterator[Settings]:
    prefix = services.unique_name("qt") + ":"
    yield Settings().replace(
        broker_url=redis_url, outbox_stream_prefix=prefix, event_format="cloudevents"
    )
    await services.delete_redis_prefix(prefix, redis_url)


async def test_redis_streams_carry_a_structured_cloudevent(redis_settings: Settings) -> None:
    message = _message()
    await _publish(redis_settings, message)
    client = Redis.from_url(str(redis_settings.broker.url))
    try:
        stream = stream_name("User", redis_settings.broker.stream_prefix)
        [(_, fields)] = list(await client.xrange(stream) or [])
    finally:
        await client.aclose()
    assert isinstance(fields, dict)
    assert set(fields) == {b"content-type", b"body"}
    assert fields[b"content-type"] == b"application/cloudevents+json"
    _assert_is_the_event(JSONFormat().read(None, fields[b"body"]), message)
    [delivery] = await _consume(redis_settings)
    _assert_delivered(delivery, message)


@pytest.fixture
async def amqp_settings(amqp_url: str) -> AsyncIterator[Settings]:
    exchange = services.unique_name("qt") + ".outbox"
    yield Settings().replace(
        broker_url=amqp_url, outbox_exchange=exchange, event_format="cloudevents"
    )
    connection = await aio_pika.connect(amqp_url, timeout=5)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(f"{exchange}.{GROUP}")
        await channel.queue_delete(f"{exchange}.raw")
        await channel.exchange_delete(exchange)


async def test_rabbitmq_carries_a_binary_cloudevent_per_the_amqp_binding(
    amqp_settings: Settings,
) -> None:
    url, exchange_name = str(amqp_settings.broker.url), amqp_settings.broker.exchange
    connection = await aio_pika.connect(url, timeout=5)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        raw = await channel.declare_queue(f"{exchange_name}.raw", durable=True)
        await raw.bind(exchange, routing_key="#")
        consumer_queue = build_source(None, amqp_settings, group=GROUP, aggregate_types=("User",))
        await consumer_queue.start()  # the consumer's queue is bound before the publish
        await consumer_queue.close()

        message = _message()
        await _publish(amqp_settings, message)
        received = await raw.get(timeout=5)
        await received.ack()
    assert received.message_id == message.id  # the deduplication key, as before
    wire = amqp.AMQPMessage(
        properties={"content-type": received.content_type},
        application_properties=dict(received.headers or {}),
        application_data=received.body,
    )
    assert all(name.startswith("cloudEvents_") for name in wire.application_properties)
    _assert_is_the_event(amqp.from_binary(wire, JSONFormat()), message)
    [delivery] = await _consume(amqp_settings)
    _assert_delivered(delivery, message)


@pytest.fixture
async def nats_settings(nats_url: str) -> AsyncIterator[Settings]:
    prefix = services.unique_name("qt") + "_"
    yield Settings().replace(
        broker_url=nats_url, outbox_stream_prefix=prefix, event_format="cloudevents"
    )
    await services.delete_nats_streams(prefix, nats_url)


async def test_nats_carries_a_binary_cloudevent_in_ce_headers(nats_settings: Settings) -> None:
    message = _message()
    await _publish(nats_settings, message)
    prefix = nats_settings.broker.stream_prefix
    jetstream = JetStream(str(nats_settings.broker.url), 5.0)
    try:
        js = await jetstream.context()
        stored = await js.get_last_msg(jetstream_name("User", prefix), subject(message, prefix))
    finally:
        await jetstream.close()
    headers = dict(stored.headers or {})
    assert headers["Nats-Msg-Id"] == message.id  # the server's deduplication id, as before
    # The NATS binding's binary mode names attributes as HTTP's does (ce- headers,
    # Content-Type), so the SDK's HTTP decoder reads it.
    wire = http.HTTPMessage(headers=headers, body=stored.data or b"")
    _assert_is_the_event(http.from_binary(wire, JSONFormat()), message)
    [delivery] = await _consume(nats_settings)
    _assert_delivered(delivery, message)
