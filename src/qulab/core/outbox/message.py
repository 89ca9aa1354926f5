"""What the relay hands to a publisher: one outbox row, ready to send."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One domain event as a message. ``id`` is the event id and doubles as the message id;
    ``aggregate_id`` is the message key. ``payload_json`` is the stored JSON text, passed on
    verbatim so the relay never decodes and re-encodes payloads."""

    id: str
    type: str
    aggregate_type: str
    aggregate_id: str
    occurred_at: datetime
    payload_json: str
    sequence: int
    attempts: int = 0
    trace_context: Mapping[str, str] | None = None
    """The W3C trace context the message carries (``traceparent``, ``tracestate``), if any."""

    @property
    def payload(self) -> dict[str, Any]:
        decoded = orjson.loads(self.payload_json)
        return decoded if isinstance(decoded, dict) else {"value": decoded}

    def fields(self) -> dict[str, str]:
        """The message fields every broker carries (the Redis stream entry, the JSON line),
        the trace context's after them when there is one."""
        return {
            "id": self.id,
            "type": self.type,
            "aggregate_type": self.aggregate_type,
            "aggregate_id": self.aggregate_id,
            "occurred_at": self.occurred_at.isoformat(),
            "payload": self.payload_json,
            **(self.trace_context or {}),
        }

    def to_json(self) -> bytes:
        """The message as one JSON object, with the payload embedded as JSON (not a string)."""
        body: dict[str, object] = dict(self.fields())
        body["payload"] = orjson.Fragment(self.payload_json)
        return orjson.dumps(body)
