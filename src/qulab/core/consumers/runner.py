"""The consumer loop: fetch a batch, apply each delivery once through the inbox, ack it.

An event is acknowledged only after its effects committed, so a consumer killed between the
two gets the event again and the inbox turns it into a counted duplicate. A database or broker
outage stops nothing: the batch is not acknowledged, the loop waits and fetches again (the
broker redelivers). ``run_once`` drains what is there and returns; ``run`` goes on until
``stop()``, logging a status line every ``status_interval`` seconds (``status()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import UTC
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from qulab.core import tracing
from qulab.core.consumers.delivery import Delivery
from qulab.core.consumers.inbox import apply_once
from qulab.core.consumers.source import Source
from qulab.core.db import Database
from qulab.core.errors import BrokerUnavailable, QulabError, ServiceUnavailable
from qulab.core.models import utcnow
from qulab.core.recorders import NO_CONSUMER_METRICS, ConsumerRecorder
from qulab.core.status_line import StatusLine
from qulab.core.status_line import finish as finish_status
from qulab.core.status_line import start as start_status

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
        group: str | None = None,
        batch_size: int = 100,
        wait: float = 1.0,
        metrics: ConsumerRecorder | None = None,
        status_interval: float | None = None,
    ) -> None:
        self.db = db
        self.source = source
        self.handler = handler
        self.name = name or handler.name
        self.group = group or self.name  # the broker's consumer group / queue / durable
        self.batch_size = batch_size
        self.wait = wait
        self.totals = ConsumeResult()
        # Where processed, duplicates and lag are reported for metrics (nowhere by default).
        self.metrics: ConsumerRecorder = metrics or NO_CONSUMER_METRICS
        self.status_interval = (
            db.settings.log.status_interval if status_interval is None else status_interval
        )
        self.last_lag: float | None = None  # how long the last applied event took to arrive
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def handle(self, deliveries: Sequence[Delivery]) -> None:
        """Apply each delivery in its own transaction and acknowledge it once that committed
        (not at the end of the batch: a slow batch must not outlive the broker's ack wait)."""
        for delivery in deliveries:
            try:
                with self._span(delivery):
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
                    extra=self._about(delivery),
                )
                self.totals.rejected += 1
            else:
                self._count(delivery, applied)
            await self.source.ack([delivery])
        self.totals.batches += 1

    def _span(self, delivery: Delivery) -> AbstractContextManager[tracing.Carrier | None]:
        """The delivery's consume span, a child of the publish span it carries."""
        if not tracing.enabled():
            return contextlib.nullcontext()
        return tracing.span(
            f"consume {delivery.type}",
            kind="consumer",
            parent=delivery.trace_context,
            attributes={
                "messaging.operation.type": "process",
                "messaging.message.id": delivery.event_id,
                "messaging.consumer.group.name": self.name,
                "qulab.event.type": delivery.type,
                "qulab.aggregate.id": delivery.aggregate_id,
            },
        )

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
            behind = max((utcnow() - occurred).total_seconds(), 0.0)
            self.last_lag = behind
            self.metrics.lag(behind, source=delivery.aggregate_type)

    def _about(self, delivery: Delivery) -> dict[str, str]:
        """The structured fields of a log record about one delivery."""
        return {
            "event_id": delivery.event_id,
            "event_type": delivery.type,
            "aggregate_id": delivery.aggregate_id,
            "consumer": self.name,
            "consumer_group": self.group,
        }

    async def status(self) -> StatusLine:
        """The consumer's status line: what it applied, skipped as duplicates and rejected since
        it started, what the broker still holds for its group (pending), and how long the last
        applied event took from its write to here (lag)."""
        try:
            pending = (await self.source.lag()).total
        except OUTAGES as error:
            log.debug("broker lag not read for the status line: %s", error)
            pending = None
        counts = {
            "processed": self.totals.processed,
            "duplicates": self.totals.duplicates,
            "rejected": self.totals.rejected,
            "pending": pending,
        }
        context = {"consumer": self.name, "consumer_group": self.group}
        return StatusLine("consumer status", counts, self.last_lag, context)

    async def report_status(self) -> StatusLine:
        """Log the status line (at INFO) and return it."""
        line = await self.status()
        line.log(log)
        return line

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
        reporting = start_status(
            self.status_interval, self.report_status, self._stop, f"qulab consumer {self.name}"
        )
        try:
            while not self._stop.is_set():
                await self._step()
        finally:
            await finish_status(reporting)
        self.totals.malformed = self.source.dropped
        return self.totals

    async def _step(self) -> None:
        try:
            deliveries = await self.source.fetch(self.batch_size, self.wait)
            if deliveries:
                await self.handle(deliveries)
            if self.totals.outage is not None:
                log.warning(
                    "consuming again", extra={"consumer": self.name, "consumer_group": self.group}
                )
                self.totals.outage = None
        except OUTAGES as error:
            if self.totals.outage is None:
                log.warning(
                    "outage, deliveries stay unacknowledged: %s",
                    error,
                    extra={"consumer": self.name, "consumer_group": self.group},
                )
            self.totals.outage = str(error)
            await self._pause()

    async def _pause(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), self.retry_wait)
