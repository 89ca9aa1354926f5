"""The embedded broker as a source: a cursor over the process's memory broker.

The memory broker keeps the last N messages of this process, so a consumer reading it runs in
the same process as the relay (the lab, ``qulab consume run --broker memory://``). Nothing is
acknowledged to it; messages that fell off the end before being read are counted as missed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from qulab.core.consumers.delivery import Decoder, Delivery, from_fields
from qulab.core.consumers.source import Lag
from qulab.core.outbox.memory import Delivered, MemoryBroker


class MemorySource:
    def __init__(self, broker: MemoryBroker, *, aggregate_types: Sequence[str]) -> None:
        self.broker = broker
        self.aggregate_types = set(aggregate_types)
        self.position = 0  # how many of the broker's messages (ever) this source has seen
        self.missed = 0
        self.decode = Decoder(_delivery, _message_id)

    @property
    def dropped(self) -> int:
        return self.decode.skipped

    @property
    def description(self) -> str:
        return self.broker.description

    async def start(self) -> None:
        return None

    async def fetch(self, limit: int, wait: float) -> list[Delivery]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        # The memory broker signals nothing, so an empty source looks again every 50 ms.
        while self.broker.total <= self.position and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(min(0.05, wait))
        kept = self.broker.messages()
        first = self.broker.total - len(kept)  # the position of kept[0]
        if first > self.position:
            self.missed += first - self.position
            self.position = first
        batch = kept[self.position - first : self.position - first + limit]
        self.position += len(batch)
        return await self.decode(
            m for m in batch if m.message.aggregate_type in self.aggregate_types
        )

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        return None

    async def lag(self) -> Lag:
        return Lag(max(0, self.broker.total - self.position), 0)

    async def close(self) -> None:
        return None


def _delivery(delivered: Delivered) -> Delivery:
    return from_fields(delivered.message.fields())


def _message_id(delivered: Delivered) -> str:
    return delivered.message.id
