"""RabbitMQ source: a durable queue ``{exchange}.{group}`` bound to the outbox exchange.

The queue is bound with ``#`` (every event type), so every event the relay publishes has a
queue to reach once a consumer group exists. Messages are acknowledged one by one after the
commit; ``prefetch`` bounds how many may be unacknowledged at once. A channel that closes
(a consumer killed, a connection lost) hands its unacknowledged messages back to the queue,
and RabbitMQ delivers them again marked ``redelivered``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import aio_pika
from aiormq import exceptions as amqp_errors

from qulab.core import tracing
from qulab.core.amqp import connect_rabbitmq
from qulab.core.consumers.delivery import (
    Decoder,
    Delivery,
    ack_each,
    ack_message,
    cloudevent_attributes,
    from_cloudevent,
    from_fields,
)
from qulab.core.consumers.source import Lag
from qulab.core.errors import BrokerUnavailable
from qulab.core.outbox.cloudevents import AMQP_PREFIX
from qulab.core.outbox.rabbitmq import HEADERS
from qulab.core.urls import redact_text, redact_url

ERRORS = (
    amqp_errors.AMQPError,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
)


def queue_name(exchange: str, group: str) -> str:
    return f"{exchange}.{group}"


class RabbitMQSource:
    def __init__(
        self,
        url: str,
        *,
        group: str,
        exchange: str = "qulab.outbox",
        prefetch: int = 100,
        timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.exchange_name = exchange
        self.queue_name = queue_name(exchange, group)
        self.prefetch = prefetch
        self.timeout = timeout
        self._where = redact_url(url)
        self._connection: Any = None
        self._channel: Any = None
        self._queue: Any = None
        self._inbox: asyncio.Queue[Any] = asyncio.Queue()
        self.decode = Decoder(_delivery, _message_id, ack_message)

    @property
    def dropped(self) -> int:
        return self.decode.skipped

    @property
    def description(self) -> str:
        return f"{self._where} queue {self.queue_name} on exchange {self.exchange_name}"

    def _unavailable(self, error: BaseException) -> BrokerUnavailable:
        detail = redact_text(repr(error), self.url)
        return BrokerUnavailable(f"RabbitMQ at {self._where}: {detail}")

    async def start(self) -> None:
        if self._channel is not None and not self._channel.is_closed:
            return
        await self.close()
        try:
            self._connection = await connect_rabbitmq(self.url, self.timeout)
            self._channel = await self._connection.channel()
            await self._channel.set_qos(prefetch_count=self.prefetch)
            self._queue = await self._declare(self._channel)
            self._inbox = asyncio.Queue()
            await self._queue.consume(self._inbox.put)
        except ERRORS as error:
            await self.close()
            raise self._unavailable(error) from error

    async def _declare(self, channel: Any) -> Any:
        exchange = await channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(self.queue_name, durable=True)
        await queue.bind(exchange, routing_key="#")
        return queue

    async def bind(self) -> None:
        """Declare the exchange and this group's queue and bind them, without consuming: from
        then on every event published is kept in the queue until the group reads it."""
        try:
            connection = await connect_rabbitmq(self.url, self.timeout)
        except ERRORS as error:
            raise self._unavailable(error) from error
        try:
            await self._declare(await connection.channel())
        except ERRORS as error:
            raise self._unavailable(error) from error
        finally:
            with contextlib.suppress(*ERRORS):
                await connection.close()

    async def fetch(self, limit: int, wait: float) -> list[Delivery]:
        await self.start()
        messages: list[Any] = []
        with contextlib.suppress(TimeoutError):
            messages.append(await asyncio.wait_for(self._inbox.get(), wait))
        while len(messages) < limit and not self._inbox.empty():
            messages.append(self._inbox.get_nowait())
        if self._channel is None or self._channel.is_closed:
            await self.close()
            raise BrokerUnavailable(f"RabbitMQ at {self._where}: channel closed")
        return await self.decode(messages)

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        try:
            await ack_each(deliveries)
        except (*ERRORS, aio_pika.exceptions.MessageProcessError) as error:
            await self.close()
            raise self._unavailable(error) from error

    async def lag(self) -> Lag:
        try:
            connection = await connect_rabbitmq(self.url, self.timeout)
        except ERRORS as error:
            raise self._unavailable(error) from error
        try:
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(self.queue_name, passive=True)
            except amqp_errors.ChannelNotFoundEntity:
                return Lag(None, None)
            ready = queue.declaration_result.message_count
            return Lag(None if ready is None else int(ready), None)
        finally:
            with contextlib.suppress(*ERRORS):
                await connection.close()

    async def close(self) -> None:
        connection = self._connection
        self._connection = self._channel = self._queue = None
        if connection is not None and not connection.is_closed:
            with contextlib.suppress(*ERRORS):
                await connection.close()


def _delivery(message: Any) -> Delivery:
    """The event id is the AMQP message id, the type the message type (or its routing key);
    a CloudEvent in the AMQP binding's binary mode brings its attributes as headers."""
    headers = message.headers or {}
    redelivered = bool(message.redelivered)
    attributes = cloudevent_attributes(headers, AMQP_PREFIX) or cloudevent_attributes(
        headers, "cloudEvents:"
    )
    if attributes:
        return from_cloudevent(attributes, message.body, message, redelivered)
    fields = {name: headers.get(name) for name in (*HEADERS, *tracing.CONTEXT_FIELDS)}
    fields |= {"id": message.message_id, "type": message.type or message.routing_key}
    return from_fields(fields | {"payload": message.body}, message, redelivered)


def _message_id(message: Any) -> str:
    return str(message.message_id)
