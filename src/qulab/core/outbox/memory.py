"""The embedded broker: a bounded in-process stream keeping the last N messages.

Brokers are shared per process by name (``memory://`` is the default one), so the relay
running on the lab's event loop and the page that shows what arrived see the same messages.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from qulab.core.outbox.message import OutboxMessage
from qulab.core.outbox.publisher import Failures


@dataclass(frozen=True, slots=True)
class Delivered:
    message: OutboxMessage
    delivered_at: datetime


class MemoryBroker:
    """A thread-safe bounded stream: publish appends, the oldest fall off past ``maxlen``."""

    def __init__(self, name: str = "default", maxlen: int = 1000) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._messages: deque[Delivered] = deque(maxlen=maxlen)
        self.total = 0

    @property
    def description(self) -> str:
        return f"memory://{self.name if self.name != 'default' else ''}"

    @property
    def maxlen(self) -> int:
        return self._messages.maxlen or 0

    async def publish(self, messages: Sequence[OutboxMessage]) -> Failures:
        now = datetime.now(UTC)
        with self._lock:
            self._messages.extend(Delivered(message, now) for message in messages)
            self.total += len(messages)
        return {}

    def messages(self, limit: int | None = None) -> list[Delivered]:
        """The retained messages, oldest first (the last ``limit`` of them if given)."""
        with self._lock:
            kept = list(self._messages)
        return kept[-limit:] if limit else kept

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
            self.total = 0

    async def close(self) -> None:
        """The broker outlives any one relay; closing a publisher leaves its messages."""


_brokers: dict[str, MemoryBroker] = {}
_registry_lock = threading.Lock()


def memory_broker(name: str = "default", maxlen: int = 1000) -> MemoryBroker:
    """The process-wide broker called ``name`` (created on first use with ``maxlen``)."""
    with _registry_lock:
        broker = _brokers.get(name)
        if broker is None:
            broker = _brokers[name] = MemoryBroker(name, maxlen)
        return broker
