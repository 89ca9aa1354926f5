"""One trace from the write to the consumer, on every broker: a user update's unit of work
stores its trace context with the event, the relay's publish span continues it and sends its
own on the message, and the consumer's span is the publish span's child."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aio_pika
import orjson
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from qulab.core import tracing
from qulab.core.cache import build_cache
from qulab.core.config import Settings
from qulab.core.consumers import Consumer, Delivery, RabbitMQSource, build_source
from qulab.core.db import Database
from qulab.core.ids import new_id
from qulab.core.models import DomainEvent, utcnow
from qulab.core.outbox import OutboxMessage, build_publisher, publish_pending
from qulab.core.outbox.traced import publish as traced_publish
from qulab.core.sql_spans import instrument_engine
from tests import services
from tests.service_calls import create_user, update_user
from tests.tracing_support import attribute, named, parent_id, span_id, trace_id, traced

__all__ = ["traced"]


GROUP = "traced"


class UserEvents:
    name = GROUP
    aggregate_types: tuple[str, ...] = ("User",)

    async def apply(self, conn: AsyncConnection, delivery: Delivery) -> None:
        return None


@dataclass
class Broker:
    kind: str
    url: str
    settings: dict[str, str]


@pytest.fixture(params=["memory", "redis", "rabbitmq", "nats"])
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    kind = str(request.param)
    tag = services.unique_name("qt")
    if kind == "memory":
        yield Broker(kind, f"memory://{tag}", {})
    elif kind == "redis":
        url = str(request.getfixturevalue("redis_url"))
        yield Broker(kind, url, {"outbox_stream_prefix": tag + ":"})
        await services.delete_redis_prefix(tag + ":", url)
    elif kind == "rabbitmq":
        url = str(request.getfixturevalue("amqp_url"))
        exchange = tag + ".outbox"
        yield Broker(kind, url, {"outbox_exchange": exchange})
        connection = await aio_pika.connect(url, timeout=5)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(f"{exchange}.{GROUP}")
            await channel.exchange_delete(exchange)
    else:
        url = str(request.getfixturevalue("nats_url"))
        yield Broker(kind, url, {"outbox_stream_prefix": tag + "_"})
        await services.delete_nats_streams(tag + "_", url)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_user_update_and_its_consumption_are_one_trace(
    db: Database, broker: Broker, traced: InMemorySpanExporter
) -> None:
    settings = Settings().replace(
        database_url=db.settings.database.url, broker_url=broker.url, **broker.settings
    )
    instrument_engine(db.engine)  # built before the test turned tracing on
    user = await create_user(db, email="traced@example.com", name="Traced")
    if broker.kind == "rabbitmq":  # the group's queue exists before anything is published
        queue = RabbitMQSource(broker.url, group=GROUP, exchange=settings.broker.exchange)
        await queue.start()
        await queue.close()
    traced.clear()

    await update_user(db, user.id, name="Traced Again")
    async with db.session() as session:
        [(event_id, stored)] = (
            await session.execute(
                select(DomainEvent.id, DomainEvent.trace_context).where(
                    DomainEvent.event_type == "user.updated"
                )
            )
        ).all()
    publisher = build_publisher(broker.url, settings)
    try:
        assert (await publish_pending(db, publisher)).published == 2
    finally:
        await publisher.close()
    source = build_source(broker.url, settings, group=GROUP, aggregate_types=("User",))
    consumer = Consumer(db, source, UserEvents(), wait=0.5)
    try:
        totals = await consumer.run_once()
    finally:
        await source.close()
    assert (totals.processed, totals.outage) == (2, None)

    spans = traced.get_finished_spans()
    [unit] = named(spans, "unit of work")
    [write] = named(spans, "outbox write")
    [publish] = [
        s for s in named(spans, "publish ") if attribute(s, "messaging.message.id") == event_id
    ]
    [consume] = [
        s for s in named(spans, "consume ") if attribute(s, "messaging.message.id") == event_id
    ]
    assert publish.name == "publish user.updated" and consume.name == "consume user.updated"
    # The stored context is the unit of work's span: the publish continues it.
    assert orjson.loads(stored)["traceparent"].split("-")[2] == f"{span_id(unit):016x}"
    assert {trace_id(s) for s in (unit, write, publish, consume)} == {trace_id(unit)}
    assert parent_id(write) == span_id(unit)
    assert parent_id(publish) == span_id(unit)
    assert parent_id(consume) == span_id(publish)
    # SQL: the update ran in the unit of work, the inbox insert in the consume span.
    sql = [s for s in spans if s.attributes and "db.query.text" in s.attributes]
    updates = [s for s in sql if s.name == "UPDATE" and parent_id(s) == span_id(unit)]
    assert updates, [(s.name, parent_id(s)) for s in sql]
    inbox = [
        s
        for s in sql
        if parent_id(s) == span_id(consume) and "inbox" in str(attribute(s, "db.query.text"))
    ]
    assert inbox
    # The user.created event was written untraced: its message carries no context to join.
    [created] = [s for s in named(spans, "consume ") if s.name == "consume user.created"]
    assert trace_id(created) != trace_id(unit)


async def test_redis_cache_operations_are_client_spans_of_the_caller(
    redis_url: str, traced: InMemorySpanExporter
) -> None:
    prefix = services.unique_name("qt") + ":"
    cache = build_cache(Settings().replace(redis_url=redis_url, cache_prefix=prefix))
    try:
        with tracing.span("caller"):
            await cache.backend.set(prefix + "k", b"value", 30)
            assert await cache.backend.get(prefix + "k") == b"value"
    finally:
        await cache.close()
        await services.delete_redis_prefix(prefix, redis_url)
    spans = traced.get_finished_spans()
    [caller] = named(spans, "caller")
    redis = named(spans, "redis ")
    assert [s.name for s in redis] == ["redis set", "redis get"]
    assert all(parent_id(s) == span_id(caller) for s in redis)
    assert all(s.attributes and s.attributes["db.system.name"] == "redis" for s in redis)


async def test_a_message_the_broker_refuses_ends_its_publish_span_as_failed(
    amqp_url: str, traced: InMemorySpanExporter
) -> None:
    exchange = services.unique_name("qt") + ".outbox"
    settings = Settings().replace(broker_url=amqp_url, outbox_exchange=exchange)
    message = OutboxMessage(
        id=new_id(),
        type="nobody.listens",
        aggregate_type="User",
        aggregate_id=new_id(),
        occurred_at=utcnow(),
        payload_json="{}",
        sequence=1,
    )
    publisher = build_publisher(settings=settings)
    try:
        failures = await traced_publish(publisher, [message])
    finally:
        await publisher.close()
        connection = await aio_pika.connect(amqp_url, timeout=5)
        async with connection:
            await (await connection.channel()).exchange_delete(exchange)
    assert "unroutable" in failures[message.id]
    [span] = named(traced.get_finished_spans(), "publish nobody.listens")
    assert span.status.status_code is StatusCode.ERROR
    assert "unroutable" in str(span.status.description)
    assert attribute(span, "messaging.system") == "amqp"
