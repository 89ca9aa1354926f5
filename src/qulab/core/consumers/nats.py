"""NATS JetStream source: a durable pull consumer on each aggregate type's stream.

The durable consumer is named after the group, so every process of the group pulls from the
same consumer and shares the work. A message not acknowledged within ``ack_wait`` seconds (its
consumer died) is delivered again. The streams are created if the relay has not yet done so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import nats
from nats.js import api
from nats.js import errors as js_errors

from qulab.core import tracing
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
from qulab.core.outbox.cloudevents import NATS_PREFIX
from qulab.core.outbox.nats import (
    HEADERS,
    OUTAGE_ERRORS,
    JetStream,
    ensure_stream,
    jetstream_name,
    jetstream_safe,
    subject_root,
)
from qulab.core.urls import redact_text, redact_url

ERRORS = (*OUTAGE_ERRORS, nats.errors.Error)


def durable_name(group: str) -> str:
    return jetstream_safe(group)


class NatsSource:
    def __init__(
        self,
        url: str,
        *,
        group: str,
        aggregate_types: Sequence[str],
        prefix: str = "",
        ack_wait: float = 30.0,
        timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.durable = durable_name(group)
        self.aggregate_types = tuple(aggregate_types)
        self.prefix = prefix
        self.ack_wait = ack_wait
        self.timeout = timeout
        self._where = redact_url(url)
        self._jetstream = JetStream(url, timeout)
        self._subs: list[Any] = []
        self.decode = Decoder(_delivery, _subject, ack_message)

    @property
    def dropped(self) -> int:
        return self.decode.skipped

    @property
    def description(self) -> str:
        streams = ", ".join(jetstream_name(k, self.prefix) for k in self.aggregate_types)
        return f"{self._where} JetStream {streams} consumer {self.durable}"

    def _unavailable(self, error: BaseException) -> BrokerUnavailable:
        text = redact_text(str(error).strip() or type(error).__name__, self.url)
        return BrokerUnavailable(f"NATS at {self._where}: {text}")

    async def start(self) -> None:
        if self._subs and self._jetstream.connected:
            return
        try:
            js = await self._jetstream.context()
            config = api.ConsumerConfig(
                durable_name=self.durable,
                ack_policy=api.AckPolicy.EXPLICIT,
                ack_wait=self.ack_wait,
                deliver_policy=api.DeliverPolicy.ALL,
            )
            self._subs = []
            for kind in self.aggregate_types:
                stream = await ensure_stream(js, kind, self.prefix)
                self._subs.append(
                    await js.pull_subscribe(
                        subject_root(kind, self.prefix) + ".>",
                        durable=self.durable,
                        stream=stream,
                        config=config,
                    )
                )
        except ERRORS as error:
            await self.close()
            raise self._unavailable(error) from error

    async def fetch(self, limit: int, wait: float) -> list[Delivery]:
        await self.start()

        async def pull(sub: Any) -> list[Any]:
            try:
                return list(await sub.fetch(batch=limit, timeout=wait))
            except (js_errors.FetchTimeoutError, TimeoutError):
                return []

        try:
            pulled = await asyncio.gather(*(pull(sub) for sub in self._subs))
        except ERRORS as error:
            await self.close()
            raise self._unavailable(error) from error
        return await self.decode(m for batch in pulled for m in batch)

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        try:
            await ack_each(deliveries)
        except ERRORS as error:
            await self.close()
            raise self._unavailable(error) from error

    async def lag(self) -> Lag:
        undelivered = unacked = 0
        try:
            js = await self._jetstream.context()
            for kind in self.aggregate_types:
                try:
                    info = await js.consumer_info(jetstream_name(kind, self.prefix), self.durable)
                except js_errors.NotFoundError:
                    continue
                undelivered += int(info.num_pending or 0)
                unacked += int(info.num_ack_pending or 0)
        except ERRORS as error:
            await self.close()
            raise self._unavailable(error) from error
        return Lag(undelivered, unacked)

    async def close(self) -> None:
        self._subs = []
        await self._jetstream.close()


def _delivery(message: Any) -> Delivery:
    """The fields from their headers, or a CloudEvent's attributes from its ``ce-`` headers
    (the NATS binding's binary mode)."""
    headers = message.headers or {}
    delivered = message.metadata.num_delivered
    redelivered = bool(delivered and delivered > 1)
    attributes = cloudevent_attributes(headers, NATS_PREFIX)
    if attributes:
        return from_cloudevent(attributes, message.data, message, redelivered)
    fields = {name: headers.get(header) for name, header in HEADERS.items()}
    fields |= {name: headers.get(name) for name in tracing.CONTEXT_FIELDS}
    return from_fields(fields | {"payload": message.data}, message, redelivered)


def _subject(message: Any) -> str:
    return f"on {message.subject}"
