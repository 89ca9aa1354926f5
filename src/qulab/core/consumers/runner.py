"""The consumer loop: fetch a batch, apply each delivery once through the inbox, ack it.

An event is acknowledged only after its effects committed, so a consumer killed between the
two gets the event again and the inbox turns it into a counted duplicate. A database or broker
outage stops nothing: the batch is not acknowledged, the loop waits and fetches again (the
broker redelivers). ``run_once`` drains what is there and returns; ``run`` goes on until
``stop()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from qulab.core.consumers.delivery import Delivery
from qulab.core.consumers.inbox import apply_once
from qulab.core.consumers.source import Source
from qulab.core.db import Database
from qulab.core.errors import BrokerUnavailable, QulabError, ServiceUnavailable
from qulab.core.models import utcnow
from qulab.core.recorders import NO_CONSUMER_METRICS, ConsumerRecorder

log = logging.getLogger(__name__)

OUTAGES = (BrokerUnavailable, ServiceUnavailable, ConnectionError, OSError, TimeoutError)


class Handler(Protocol):
    """A consumer's logic: which aggregate types it reads and how it applies one event on the
    inbox's connection (inside the inbox's transaction)."""

    name: str
    aggregate_types: tuple[str, ...]

    async def apply(self, conn: AsyncConnection, delivery: Delivery) -> None: ...


@dataclass
class ConsumeResult:
    processed: int = 0
    duplicates: int = 0
    rejected: int = 0  # deliveries that cannot be applied, logged and acknowledged
    malformed: int = 0  # messages that cannot be decoded, logged and acknowledged
    batches: int = 0
    outage: str | None = None

    @property
    def poisoned(self) -> int:
        """Deliveries dropped because they can never be applied (undecodable or refused)."""
        return self.rejected + self.malformed

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class Consumer:
    retry_wait = 1.0  # seconds between attempts while the database or broker is down

    def __init__(
        self,
        db: Database,
        source: Source,
        handler: Handler,
        *,
        name: str | None = None,
        batch_size: int = 100,
        wait: float = 1.0,
        metrics: ConsumerRecorder | None = None,
    ) -> None:
        self.db = db
        self.source = source
        self.handler = handler
        self.name = name or handler.name
        self.batch_size = batch_size
        self.wait = wait
        self.totals = ConsumeResult()
        # Where processed, duplicates and lag are reported for metrics (nowhere by default).
        self.metrics: ConsumerRecorder = metrics or NO_CONSUMER_METRICS
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def handle(self, deliveries: Sequence[Delivery]) -> None:
        """Apply each delivery in its own transaction and acknowledge it once that committed
        (not at the end of the batch: a slow batch must not outlive the broker's ack wait)."""
        for delivery in deliveries:
            try:
                applied = await apply_once(self.db, self.name, delivery, self.handler.apply)
            except OUTAGES:
                raise
            except (QulabError, ValueError, TypeError) as error:
                # The event itself cannot be applied (a payload the handler cannot read, a
                # value the database refuses): delivering it again would fail the same way.
                log.error(
                    "event %s (%s) cannot be applied, skipped: %s",
                    delivery.event_id,
                    delivery.type,
                    error,
                )
                self.totals.rejected += 1
            else:
                self._count(delivery, applied)
            await self.source.ack([delivery])
        self.totals.batches += 1

    def _count(self, delivery: Delivery, applied: bool) -> None:
        """The one place a delivery's outcome is counted, in the totals and for metrics."""
        if applied:
            self.totals.processed += 1
            self.metrics.processed(delivery.type)
        else:
            self.totals.duplicates += 1
            self.metrics.duplicate(delivery.type)
        occurred = delivery.occurred_at
        if occurred is not None:
            if occurred.tzinfo is None:
                occurred = occurred.replace(tzinfo=UTC)
            behind = (utcnow() - occurred).total_seconds()
            self.metrics.lag(max(behind, 0.0), source=delivery.aggregate_type)

    async def run_once(self) -> ConsumeResult:
        """Consume until a fetch comes back empty; an outage ends the pass (reported)."""
        try:
            await self.source.start()
            while not self._stop.is_set():
                deliveries = await self.source.fetch(self.batch_size, self.wait)
                if not deliveries:
                    break
                await self.handle(deliveries)
        except OUTAGES as error:
            self.totals.outage = str(error)
        self.totals.malformed = self.source.dropped
        return self.totals

    async def run(self, ready: asyncio.Event | None = None) -> ConsumeResult:
        """Consume until ``stop()``; outages are logged and waited out."""
        while not self._stop.is_set():
            try:
                await self.source.start()
                break
            except OUTAGES as error:
                log.warning("broker unavailable, waiting: %s", error)
                await self._pause()
        if ready is not None:
            ready.set()
        while not self._stop.is_set():
            try:
                deliveries = await self.source.fetch(self.batch_size, self.wait)
                if deliveries:
                    await self.handle(deliveries)
                if self.totals.outage is not None:
                    log.warning("consuming again")
                    self.totals.outage = None
            except OUTAGES as error:
                if self.totals.outage is None:
                    log.warning("outage, deliveries stay unacknowledged: %s", error)
                self.totals.outage = str(error)
                await self._pause()
        self.totals.malformed = self.source.dropped
        return self.totals

    async def _pause(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), self.retry_wait)
