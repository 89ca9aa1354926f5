"""A publisher with a producer span per message, while tracing is on.

Each message's span continues the trace context stored with its event (the writer's), and the
message leaves carrying the publish span's own context, so the consumer's span is its child.
A message the broker refused ends its span as failed; an outage fails every span of the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from qulab.core import tracing
from qulab.core.outbox.message import OutboxMessage
from qulab.core.outbox.publisher import Failures, Publisher


class TracedPublisher:
    def __init__(self, inner: Publisher, system: str) -> None:
        self.inner = inner
        self.system = system

    @property
    def description(self) -> str:
        return self.inner.description

    async def publish(self, messages: Sequence[OutboxMessage]) -> Failures:
        spans = [self._start(message) for message in messages]
        sent = [
            replace(message, trace_context=span.carrier) if span.carrier else message
            for message, span in zip(messages, spans, strict=True)
        ]
        try:
            failures = await self.inner.publish(sent)
        except BaseException as error:
            for span in spans:
                span.end(error)
            raise
        for message, span in zip(messages, spans, strict=True):
            span.end(failures.get(message.id))
        return failures

    def _start(self, message: OutboxMessage) -> tracing.Span:
        return tracing.start(
            f"publish {message.type}",
            kind="producer",
            parent=message.trace_context,
            attributes={
                "messaging.system": self.system,
                "messaging.operation.type": "send",
                "messaging.message.id": message.id,
                "messaging.destination.name": message.aggregate_type,
                "qulab.event.type": message.type,
                "qulab.aggregate.id": message.aggregate_id,
            },
        )

    async def close(self) -> None:
        await self.inner.close()
