"""Publishing with a producer span per message, while tracing is on.

Each message's span continues the trace context stored with its event (the writer's), and the
message leaves carrying the publish span's own context, so the consumer's span is its child.
A message the broker refused ends its span as failed; an outage (or the relay's timeout) fails
every span of the batch. While tracing is off the batch goes to the publisher as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from qulab.core import tracing
from qulab.core.outbox.message import OutboxMessage
from qulab.core.outbox.publisher import Failures, Publisher


async def publish(publisher: Publisher, messages: Sequence[OutboxMessage]) -> Failures:
    """``publisher.publish(messages)``, each message in a ``publish {type}`` span."""
    if not tracing.enabled():
        return await publisher.publish(messages)
    system = publisher.description.partition("://")[0] if "://" in publisher.description else ""
    spans = [_start(message, system or "unknown") for message in messages]
    sent = [
        replace(message, trace_context=span.carrier) if span.carrier else message
        for message, span in zip(messages, spans, strict=True)
    ]
    try:
        failures = await publisher.publish(sent)
    except BaseException as error:
        for span in spans:
            span.end(error)
        raise
    for message, span in zip(messages, spans, strict=True):
        span.end(failures.get(message.id))
    return failures


def _start(message: OutboxMessage, system: str) -> tracing.Span:
    return tracing.start(
        f"publish {message.type}",
        kind="producer",
        parent=message.trace_context,
        attributes={
            "messaging.system": system,
            "messaging.operation.type": "send",
            "messaging.message.id": message.id,
            "messaging.destination.name": message.aggregate_type,
            "qulab.event.type": message.type,
            "qulab.aggregate.id": message.aggregate_id,
        },
    )
