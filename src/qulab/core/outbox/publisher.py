"""The one small protocol every broker adapter implements, and the outage switch.

``publish`` sends a batch and returns the failures that belong to single messages
(``{event_id: error}``); the relay retries those and dead-letters them after max attempts.
When the broker as a whole cannot take the batch (down, timing out, out of memory) the
publisher raises :class:`~qulab.core.errors.BrokerUnavailable` instead: that is not the events'
fault, so it is recorded on them but never dead-letters them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from qulab.core.errors import BrokerUnavailable
from qulab.core.outbox.message import OutboxMessage

log = logging.getLogger(__name__)

Failures = dict[str, str]


@runtime_checkable
class Publisher(Protocol):
    @property
    def description(self) -> str:
        """Where messages go, without credentials."""
        ...

    async def publish(self, messages: Sequence[OutboxMessage]) -> Failures: ...

    async def close(self) -> None: ...


class OutageSwitch:
    """Wraps a publisher with an on/off broker outage: while ``down``, every publish raises
    BrokerUnavailable and nothing reaches the broker. The lab uses it to show that events wait
    in the outbox and all go out once the broker is back."""

    def __init__(self, inner: Publisher, *, down: bool = False) -> None:
        self.inner = inner
        self.down = down

    @property
    def description(self) -> str:
        return self.inner.description + (" (simulated outage)" if self.down else "")

    def set_down(self, down: bool) -> None:
        if down != self.down:
            log.warning("simulated broker outage %s", "started" if down else "ended")
        self.down = down

    async def publish(self, messages: Sequence[OutboxMessage]) -> Failures:
        if self.down:
            raise BrokerUnavailable(f"simulated broker outage: {self.inner.description} is down")
        return await self.inner.publish(messages)

    async def close(self) -> None:
        await self.inner.close()
