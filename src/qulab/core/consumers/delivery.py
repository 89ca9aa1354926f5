"""What a broker source hands to a consumer: one event as received, and how it is decoded.

Every broker carries the same event fields (the outbox message's ``fields()``), each in its own
wire form: a source gathers them from its messages and :func:`from_fields` makes the
:class:`Delivery`, the same way for all. A CloudEvent (``QULAB_EVENT_FORMAT=cloudevents``) is
read by :func:`from_cloudevent` (binary mode) or :func:`from_structured`, which map its
attributes back to those fields: consumers accept either format, whatever the setting.
``token`` is the source's handle for the ack (a stream entry, an AMQP message, a JetStream
message) and means nothing to anyone else. A :class:`Decoder` is the one place a message that
cannot be decoded is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson

from qulab.core import tracing
from qulab.core.errors import InvalidInput, QulabError

log = logging.getLogger(__name__)

Raw = TypeVar("Raw")


@dataclass(frozen=True)
class Delivery:
    event_id: str
    type: str
    aggregate_type: str
    aggregate_id: str
    occurred_at: datetime | None
    payload: dict[str, Any]
    token: Any = field(default=None, compare=False, repr=False)
    redelivered: bool = False
    trace_context: Mapping[str, str] | None = field(default=None, compare=False, repr=False)


def as_text(value: object) -> str:
    """A field as text: broker clients hand back bytes (UTF-8) or str."""
    return value.decode() if isinstance(value, bytes) else str(value)


def decode_payload(raw: bytes | str) -> dict[str, Any]:
    """The payload JSON as a dict; anything else is a malformed message."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise InvalidInput("payload", f"not JSON: {error}") from error
    if not isinstance(value, dict):
        raise InvalidInput("payload", "not a JSON object")
    return value


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as error:
        raise InvalidInput("occurred_at", f"not an ISO time: {value!r}") from error


def from_fields(
    fields: Mapping[str, object], token: Any = None, redelivered: bool = False
) -> Delivery:
    """A delivery from the outbox's message fields (``id``, ``type``, ``aggregate_type``,
    ``aggregate_id``, ``occurred_at``, ``payload``), text or bytes, whatever carried them.
    A message without an event id, with a time that is not ISO or a payload that is not a JSON
    object is malformed (InvalidInput)."""

    def text(name: str) -> str:
        value = fields.get(name)
        return "" if value is None else as_text(value)

    event_id = text("id")
    if not event_id:
        raise InvalidInput("id", "the message carries no event id")
    payload = fields.get("payload", "{}")
    return Delivery(
        event_id=event_id,
        type=text("type"),
        aggregate_type=text("aggregate_type"),
        aggregate_id=text("aggregate_id"),
        occurred_at=parse_time(text("occurred_at")),
        payload=decode_payload(payload if isinstance(payload, bytes | str) else as_text(payload)),
        token=token,
        redelivered=redelivered,
        trace_context=tracing.carrier_from(fields),
    )


CLOUDEVENT_FIELDS = {
    "id": "id",
    "type": "type",
    "aggregatetype": "aggregate_type",
    "subject": "aggregate_id",
    "time": "occurred_at",
    "traceparent": "traceparent",
    "tracestate": "tracestate",
}
"""CloudEvents attribute -> message field (see qulab.core.outbox.cloudevents)."""


def cloudevent_attributes(headers: Mapping[str, object], prefix: str) -> dict[str, object]:
    """The CloudEvents attributes among binary-mode ``headers`` (names under ``prefix``, in
    any case), by attribute name; empty for a message that is not a CloudEvent."""
    size = len(prefix)
    lowered = prefix.lower()
    return {
        name[size:].lower(): value
        for name, value in headers.items()
        if name.lower().startswith(lowered)
    }


def from_cloudevent(
    attributes: Mapping[str, object],
    data: bytes | str,
    token: Any = None,
    redelivered: bool = False,
) -> Delivery:
    """A delivery from a CloudEvent's attributes and its data (the payload JSON)."""
    fields = {field: attributes.get(name) for name, field in CLOUDEVENT_FIELDS.items()}
    return from_fields(fields | {"payload": data}, token, redelivered)


def from_structured(body: bytes | str, token: Any = None, redelivered: bool = False) -> Delivery:
    """A delivery from a structured-mode CloudEvent (``application/cloudevents+json``)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidInput("body", f"not JSON: {error}") from error
    if not isinstance(document, dict) or "specversion" not in document:
        raise InvalidInput("body", "not a CloudEvent")
    data = orjson.dumps(document.get("data", {}))
    return from_cloudevent(document, data, token, redelivered)


class Decoder(Generic[Raw]):
    """A source's raw messages in, deliveries out. A message that cannot be decoded would fail
    the same way at every redelivery, so it is logged, acknowledged (``drop``) so that it never
    comes back, and counted in ``skipped``: a poison message does not hold up the rest. A source
    with nothing to acknowledge (the memory broker's cursor has moved past it) passes no
    ``drop``."""

    def __init__(
        self,
        decode: Callable[[Raw], Delivery],
        describe: Callable[[Raw], str],
        drop: Callable[[Raw], Awaitable[object]] | None = None,
    ) -> None:
        self.decode = decode
        self.drop = drop
        self.describe = describe
        self.skipped = 0

    async def __call__(self, messages: Iterable[Raw]) -> list[Delivery]:
        deliveries: list[Delivery] = []
        for message in messages:
            try:
                deliveries.append(self.decode(message))
            except QulabError as error:
                log.warning("dropping malformed message %s: %s", self.describe(message), error)
                self.skipped += 1
                if self.drop is not None:
                    await self.drop(message)
        return deliveries


async def ack_message(message: Any) -> None:
    """Acknowledge a broker's own message object (an AMQP or a JetStream message)."""
    await message.ack()


async def ack_each(deliveries: Sequence[Delivery]) -> None:
    """Acknowledge deliveries whose token is the broker's message object, one by one, in the
    order they were applied."""
    for delivery in deliveries:
        await ack_message(delivery.token)
