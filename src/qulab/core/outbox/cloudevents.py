"""CloudEvents 1.0 for the outbox's messages (``QULAB_EVENT_FORMAT=cloudevents``).

Attribute mapping, the same on every broker:

===================  =====================================================
``id``               the event id (the deduplication key)
``source``           ``QULAB_EVENT_SOURCE`` (``/qulab`` by default)
``type``             the event type (``user.updated``)
``subject``          the aggregate id
``time``             when the event was recorded (RFC 3339, UTC)
``datacontenttype``  ``application/json``; ``data`` is the payload
``aggregatetype``    extension: the aggregate type (``User``)
``partitionkey``     extension (Partitioning): the aggregate id, the message key
``traceparent``      extension (Distributed Tracing), with ``tracestate``, when traced
===================  =====================================================

Binary mode puts the attributes in the broker's headers under its binding's prefix
(``cloudEvents_`` for AMQP, ``ce-`` for NATS) and the payload in the body; structured mode
(Redis Streams, ``stdout://``) writes one JSON document, ``application/cloudevents+json``.
"""

from __future__ import annotations

from datetime import UTC

import orjson

from qulab.core.outbox.message import OutboxMessage

SPECVERSION = "1.0"
DATA_CONTENT_TYPE = "application/json"
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
AMQP_PREFIX = "cloudEvents_"
NATS_PREFIX = "ce-"


def attributes(message: OutboxMessage, source: str) -> dict[str, str]:
    """The event's context attributes (everything but ``data``)."""
    time = message.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return {
        "specversion": SPECVERSION,
        "id": message.id,
        "source": source,
        "type": message.type,
        "subject": message.aggregate_id,
        "time": time,
        "datacontenttype": DATA_CONTENT_TYPE,
        "aggregatetype": message.aggregate_type,
        "partitionkey": message.aggregate_id,
        **(message.trace_context or {}),
    }


def structured(message: OutboxMessage, source: str) -> bytes:
    """The event in structured mode: one JSON object, the payload embedded as ``data``."""
    document: dict[str, object] = dict(attributes(message, source))
    document["data"] = orjson.Fragment(message.payload_json)
    return orjson.dumps(document)


def binary_headers(message: OutboxMessage, source: str, prefix: str) -> dict[str, str]:
    """Binary mode's headers: every attribute but ``datacontenttype`` (the broker's content
    type property or header carries that) under ``prefix``."""
    return {
        prefix + name: value
        for name, value in attributes(message, source).items()
        if name != "datacontenttype"
    }
