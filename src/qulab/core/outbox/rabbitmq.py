"""``amqp://``: a durable topic exchange, publisher confirms, persistent messages.

The routing key is the event type, ``message_id`` the event id, and the aggregate id travels in
the ``aggregate_id`` header (the key consumers partition or dedupe by). A batch is published
concurrently on one confirming channel and counts once every confirm is back.

Every message is published ``mandatory``: one that no queue is bound to receive comes back
(basic.return) and is a failure of that message alone, so the relay retries it and in the end
dead-letters it instead of marking an event published that reached nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import aio_pika
from aiormq import exceptions as amqp_errors
from aiormq.abc import DeliveredMessage

from qulab.core.amqp import connect_rabbitmq
from qulab.core.errors import BrokerUnavailable
from qulab.core.outbox import cloudevents
from qulab.core.outbox.message import OutboxMessage
from qulab.core.outbox.publisher import Failures
from qulab.core.urls import redact_text, redact_url

# The message fields that travel as headers (the id, type and payload have properties of their
# own: message_id, type, body).
HEADERS = ("aggregate_type", "aggregate_id", "occurred_at")
OUTAGE_ERRORS = (
    amqp_errors.AMQPConnectionError,
    amqp_errors.ChannelInvalidStateError,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
)


class RabbitMQPublisher:
    def __init__(
        self,
        url: str,
        *,
        exchange: str = "qulab.outbox",
        timeout: float = 5.0,
        event_format: str = "qulab",
        event_source: str = "/qulab",
    ) -> None:
        self.url = url
        self.event_format = event_format
        self.event_source = event_source
        self.exchange_name = exchange
        self.timeout = timeout
        self._where = redact_url(url)
        self._connection: Any = None
        self._channel: Any = None
        self._exchange: Any = None

    @property
    def description(self) -> str:
        return f"{self._where} exchange {self.exchange_name}"

    async def _ready_exchange(self) -> Any:
        if self._exchange is not None and not self._channel.is_closed:
            return self._exchange
        await self.close()
        self._connection = await connect_rabbitmq(self.url, self.timeout)
        self._channel = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        self._exchange = await self._channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        return self._exchange

    def _headers(self, message: OutboxMessage) -> dict[str, Any]:
        """The aggregate's and the trace's fields, or (CloudEvents, the AMQP binding's binary
        mode) every attribute as a ``cloudEvents_`` header."""
        if self.event_format == "cloudevents":
            prefix = cloudevents.AMQP_PREFIX
            return dict(cloudevents.binary_headers(message, self.event_source, prefix))
        fields = message.fields()
        return {name: fields[name] for name in HEADERS} | dict(message.trace_context or {})

    def _message(self, message: OutboxMessage) -> aio_pika.Message:
        return aio_pika.Message(
            body=message.payload_json.encode(),
            message_id=message.id,
            type=message.type,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            timestamp=message.occurred_at,
            headers=self._headers(message),
        )

    async def publish(self, messages: Sequence[OutboxMessage]) -> Failures:
        if not messages:
            return {}
        try:
            exchange = await self._ready_exchange()
        except OUTAGE_ERRORS as error:
            await self.close()
            raise BrokerUnavailable(f"RabbitMQ at {self._where}: {self._detail(error)}") from error
        results = await asyncio.gather(
            *(
                exchange.publish(
                    self._message(m), routing_key=m.type, mandatory=True, timeout=self.timeout
                )
                for m in messages
            ),
            return_exceptions=True,
        )
        failures: Failures = {}
        for message, result in zip(messages, results, strict=True):
            if isinstance(result, OUTAGE_ERRORS):
                await self.close()
                where = f"RabbitMQ at {self._where}"
                raise BrokerUnavailable(f"{where}: {self._detail(result)}") from result
            if isinstance(result, amqp_errors.PublishError | DeliveredMessage):
                failures[message.id] = self._unroutable(message)
            elif isinstance(result, BaseException):
                text = redact_text(str(result), self.url)
                failures[message.id] = f"{type(result).__name__}: {text}"
        return failures

    def _detail(self, error: BaseException) -> str:
        return redact_text(repr(error), self.url)

    def _unroutable(self, message: OutboxMessage) -> str:
        return (
            f"unroutable (NO_ROUTE): no queue is bound to exchange {self.exchange_name} "
            f"for routing key {message.type}"
        )

    async def close(self) -> None:
        connection = self._connection
        self._connection = self._channel = self._exchange = None
        if connection is not None and not connection.is_closed:
            with contextlib.suppress(*OUTAGE_ERRORS):
                await connection.close()
