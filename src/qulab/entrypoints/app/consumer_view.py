"""What a consumer received, as page 5 shows it: read from the broker on each run.

The outbox rows themselves come from the read side (:mod:`qulab.platform.views`), so the page shows
the same state after a server restart and in every browser session.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from qulab.core import Database
from qulab.core.outbox import MemoryBroker, RedisStreamsPublisher
from qulab.entrypoints.app.broker import LabBroker
from qulab.platform import aggregate_types

CONSUMER_ROWS = 10


@dataclass(frozen=True)
class ConsumedMessage:
    """One message as a consumer receives it."""

    source: str  # the stream or broker it was read from
    entry_id: str  # the broker's id for the entry (stream id, or delivery time in memory)
    id: str
    type: str
    aggregate_type: str
    aggregate_id: str
    occurred_at: str
    payload: dict[str, Any]


def _payload(text: str) -> dict[str, Any]:
    try:
        decoded = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {"raw": text}
    return decoded if isinstance(decoded, dict) else {"value": decoded}


def memory_messages(broker: MemoryBroker, limit: int = CONSUMER_ROWS) -> list[ConsumedMessage]:
    """The in-memory broker's most recent messages, newest first."""
    return [
        ConsumedMessage(
            source=broker.description,
            entry_id=delivered.delivered_at.isoformat(timespec="milliseconds"),
            id=delivered.message.id,
            type=delivered.message.type,
            aggregate_type=delivered.message.aggregate_type,
            aggregate_id=delivered.message.aggregate_id,
            occurred_at=delivered.message.occurred_at.isoformat(),
            payload=delivered.message.payload,
        )
        for delivered in reversed(broker.messages(limit))
    ]


async def stream_messages(
    publisher: RedisStreamsPublisher, types: Sequence[str], limit: int = CONSUMER_ROWS
) -> list[ConsumedMessage]:
    """The last ``limit`` entries of each aggregate type's stream (XREVRANGE), newest first.
    Raises BrokerUnavailable (naming the server, never its password) when Redis does not answer."""
    found: list[ConsumedMessage] = []
    for aggregate_type in types:
        stream = publisher.stream(aggregate_type)
        for entry_id, fields in await publisher.recent(aggregate_type, limit):
            found.append(
                ConsumedMessage(
                    source=stream,
                    entry_id=entry_id,
                    id=fields.get("id", ""),
                    type=fields.get("type", ""),
                    aggregate_type=fields.get("aggregate_type", aggregate_type),
                    aggregate_id=fields.get("aggregate_id", ""),
                    occurred_at=fields.get("occurred_at", ""),
                    payload=_payload(fields.get("payload", "")),
                )
            )
    found.sort(key=lambda m: _stream_order(m.entry_id), reverse=True)
    return found[:limit]


def _stream_order(entry_id: str) -> tuple[int, int]:
    millis, _, seq = entry_id.partition("-")
    return (int(millis or 0), int(seq or 0)) if millis.isdigit() else (0, 0)


async def consumer_view(
    broker: LabBroker, db: Database, limit: int = CONSUMER_ROWS
) -> list[ConsumedMessage] | None:
    """What a consumer sees on the configured broker, or None when the lab cannot read it
    (RabbitMQ delivers to queues bound by consumers; stdout is not kept)."""
    inner = broker.inner
    if isinstance(inner, MemoryBroker):
        return memory_messages(inner, limit)
    if isinstance(inner, RedisStreamsPublisher):
        return await stream_messages(inner, await aggregate_types(db), limit)
    return None
