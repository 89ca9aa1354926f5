"""What a broker source hands to a consumer: one event as received, and how to acknowledge it.

Every broker carries the same event fields (see the outbox message); each source decodes its
own wire form into a :class:`Delivery`. ``token`` is the source's handle for the ack (a stream
entry id, an AMQP message, a JetStream message) and means nothing to anyone else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from qulab.core.errors import InvalidInput


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


def from_fields(fields: dict[str, str], token: Any = None, redelivered: bool = False) -> Delivery:
    """A delivery from the outbox's message fields (a Redis stream entry, a JSON line)."""
    event_id = fields.get("id", "")
    if not event_id:
        raise InvalidInput("id", "the message carries no event id")
    return Delivery(
        event_id=event_id,
        type=fields.get("type", ""),
        aggregate_type=fields.get("aggregate_type", ""),
        aggregate_id=fields.get("aggregate_id", ""),
        occurred_at=parse_time(fields.get("occurred_at")),
        payload=decode_payload(fields.get("payload", "{}")),
        token=token,
        redelivered=redelivered,
    )
