"""``nats://``: JetStream, one stream per aggregate type, the event id as ``Nats-Msg-Id``.

Subject layout: ``{prefix}outbox.event.{aggregate_type}.{event_type}`` (``score.calculated``
adds two tokens, so ``outbox.event.AIRScore.score.calculated``). The stream of an aggregate type
is ``{prefix}OUTBOX_{aggregate_type}`` (characters a stream name may not hold become ``_``) and
captures ``{prefix}outbox.event.{aggregate_type}.>``; the publisher creates it on first use.

The server drops a message whose ``Nats-Msg-Id`` it has already stored within the stream's
duplicate window, so a batch sent again after a relay crash lands once. A batch is published
without waiting message by message; its acks are awaited together. The aggregate id, type and
time travel as headers; the body is the payload JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Sequence

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js import errors as js_errors

from qulab.core.errors import BrokerUnavailable
from qulab.core.outbox import cloudevents
from qulab.core.outbox.message import OutboxMessage
from qulab.core.outbox.publisher import Failures
from qulab.core.urls import redact_text, redact_url

MSG_ID = "Nats-Msg-Id"
# The header each message field travels in (the event id as the server's deduplication id; the
# payload is the body).
HEADERS = {
    "id": MSG_ID,
    "type": "Qulab-Type",
    "aggregate_type": "Qulab-Aggregate-Type",
    "aggregate_id": "Qulab-Aggregate-Id",
    "occurred_at": "Qulab-Occurred-At",
}
DUPLICATE_WINDOW = 120.0  # seconds the server remembers a message id
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_-]")

OUTAGE_ERRORS = (
    nats.errors.ConnectionClosedError,
    nats.errors.NoServersError,
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.StaleConnectionError,
    nats.errors.UnexpectedEOF,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
)


def subject_root(aggregate_type: str, prefix: str = "") -> str:
    return f"{prefix}outbox.event.{aggregate_type}"


def subject(message: OutboxMessage, prefix: str = "") -> str:
    return f"{subject_root(message.aggregate_type, prefix)}.{message.type}"


def jetstream_name(aggregate_type: str, prefix: str = "") -> str:
    """The stream of one aggregate type (``QULAB_OUTBOX_STREAM_PREFIX`` first)."""
    return jetstream_safe(f"{prefix}OUTBOX_{aggregate_type}")


def jetstream_safe(name: str) -> str:
    """``name`` with the characters a stream or consumer name may not hold as ``_``."""
    return _NOT_IN_NAME.sub("_", name)


def headers(
    message: OutboxMessage, event_format: str = "qulab", source: str = "/qulab"
) -> dict[str, str]:
    """The message's headers: its fields and trace context, or (CloudEvents, the NATS
    binding's binary mode) every attribute as a ``ce-`` header; ``Nats-Msg-Id`` either way."""
    if event_format == "cloudevents":
        return {
            MSG_ID: message.id,
            "Content-Type": cloudevents.DATA_CONTENT_TYPE,
            **cloudevents.binary_headers(message, source, cloudevents.NATS_PREFIX),
        }
    fields = message.fields()
    found = {header: fields[name] for name, header in HEADERS.items()}
    return found | dict(message.trace_context or {})


async def connect(url: str, connect_timeout: float) -> Client:
    """A connection that fails fast instead of reconnecting in the background (the relay and the
    consumer retry themselves) and reports nothing on its own (they log what matters)."""

    async def _quiet(_: Exception) -> None:
        return None

    return await nats.connect(
        url,
        connect_timeout=connect_timeout,
        allow_reconnect=False,
        max_reconnect_attempts=1,  # one try at the server: 0 would mean "keep trying"
        reconnect_time_wait=0.1,
        error_cb=_quiet,
    )


async def ensure_stream(js: JetStreamContext, aggregate_type: str, prefix: str) -> str:
    """Create the aggregate type's stream unless it exists; returns its name."""
    name = jetstream_name(aggregate_type, prefix)
    try:
        await js.stream_info(name)
    except js_errors.NotFoundError:
        with contextlib.suppress(js_errors.BadRequestError):  # created meanwhile by another
            await js.add_stream(
                name=name,
                subjects=[subject_root(aggregate_type, prefix) + ".>"],
                duplicate_window=DUPLICATE_WINDOW,
            )
    return name


class JetStream:
    """One connection and its JetStream context, made on first use and again once it dropped
    (the publisher's and the consumer's)."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self._client: Client | None = None
        self._js: JetStreamContext | None = None

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    async def context(self) -> JetStreamContext:
        if self._js is not None and self.connected:
            return self._js
        await self.close()
        self._client = await connect(self.url, self.timeout)
        self._js = self._client.jetstream(timeout=self.timeout)
        return self._js

    async def close(self) -> None:
        client, self._client, self._js = self._client, None, None
        if client is not None and not client.is_closed:
            with contextlib.suppress(Exception):
                await client.close()


class NatsPublisher:
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "",
        timeout: float = 5.0,
        event_format: str = "qulab",
        event_source: str = "/qulab",
    ) -> None:
        self.url = url
        self.event_format = event_format
        self.event_source = event_source
        self.prefix = prefix
        self.timeout = timeout
        self._where = redact_url(url)
        self._jetstream = JetStream(url, timeout)
        self._streams: set[str] = set()

    @property
    def description(self) -> str:
        return f"{self._where} JetStream streams {jetstream_name('', self.prefix)}<aggregate_type>"

    async def publish(self, messages: Sequence[OutboxMessage]) -> Failures:
        if not messages:
            return {}
        try:
            # Anything going wrong before a message is sent (connecting, the streams) is the
            # broker's state, not the events' fault.
            js = await self._jetstream.context()
            for kind in {m.aggregate_type for m in messages} - self._streams:
                await ensure_stream(js, kind, self.prefix)
                self._streams.add(kind)
        except (*OUTAGE_ERRORS, nats.errors.Error) as error:
            await self.close()
            raise BrokerUnavailable(f"NATS at {self._where}: {self._detail(error)}") from error
        try:
            pending = [
                await js.publish_async(
                    subject(m, self.prefix),
                    m.payload_json.encode(),
                    headers=headers(m, self.event_format, self.event_source),
                )
                for m in messages
            ]
            async with asyncio.timeout(self.timeout):
                results = await asyncio.gather(*pending, return_exceptions=True)
        except (*OUTAGE_ERRORS, js_errors.ServiceUnavailableError) as error:
            await self.close()
            raise BrokerUnavailable(f"NATS at {self._where}: {self._detail(error)}") from error
        failures: Failures = {}
        for message, result in zip(messages, results, strict=True):
            if isinstance(result, OUTAGE_ERRORS):
                await self.close()
                raise BrokerUnavailable(f"NATS at {self._where}: {self._detail(result)}")
            if isinstance(result, BaseException):
                failures[message.id] = f"{type(result).__name__}: {self._detail(result)}"
        return failures

    def _detail(self, error: BaseException) -> str:
        text = str(error).strip() or type(error).__name__
        return redact_text(text, self.url)

    async def close(self) -> None:
        self._streams.clear()
        await self._jetstream.close()
