"""The protocol every broker source implements for a consumer.

``start`` declares what the consumer needs on the broker (a group, a queue, a durable
consumer) and is idempotent. ``fetch`` waits up to ``wait`` seconds for up to ``limit``
deliveries and returns what it has (possibly nothing). ``ack`` is called only after the
deliveries' effects have committed. ``lag`` is what the broker still holds for this consumer
(None where it cannot say). ``dropped`` counts the messages that could not be decoded (logged,
acknowledged and dropped). A broker that cannot be reached raises BrokerUnavailable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from qulab.core.consumers.delivery import Delivery


@dataclass(frozen=True)
class Lag:
    """Broker-side backlog of one consumer group: not yet delivered, delivered but unacked."""

    undelivered: int | None
    unacked: int | None

    @property
    def total(self) -> int | None:
        if self.undelivered is None and self.unacked is None:
            return None
        return (self.undelivered or 0) + (self.unacked or 0)


class Source(Protocol):
    @property
    def description(self) -> str: ...

    @property
    def dropped(self) -> int: ...

    async def start(self) -> None: ...

    async def fetch(self, limit: int, wait: float) -> list[Delivery]: ...

    async def ack(self, deliveries: Sequence[Delivery]) -> None: ...

    async def lag(self) -> Lag: ...

    async def close(self) -> None: ...
