"""The relay: claim due pending events, publish them, mark them published. Never lose one.

Delivery is at-least-once. On PostgreSQL a batch is claimed with ``FOR UPDATE SKIP LOCKED``
and stays locked while it is published and marked, in one transaction: any number of relays
run side by side without sending an event twice, and a relay that dies mid-batch releases its
rows (its transaction aborts) for the next relay to send again. On SQLite one relay runs
(:mod:`qulab.core.outbox.guard`) and nothing is held open while publishing.

With ordered relays (PostgreSQL, the default, ``QULAB_RELAY_ORDERED``) each relay leases a fair
share of the partitions, keeps one connection across batches, claims behind the commit fence in
(txid, sequence) order and publishes a batch in rounds so that one aggregate's events reach the
broker in order (:mod:`qulab.core.outbox.ordered`, :mod:`qulab.core.outbox.leases`). Within a
pass, a full batch that went out whole leaves its marks to the next claim (one statement for
both); they are written at the latest before the leases may move and when the pass ends.

``publish_pending`` is one pass (until nothing is due); ``event_publisher`` and
``Relay.run`` are the loop, woken by PostgreSQL NOTIFY and polling every ``interval`` anyway.

After each batch the relay applies the database bus's durable handlers (cache invalidation) to
the events it published: the second, durable path for an invalidation the writer could not
deliver. It runs beside publishing, never in its way; a cache outage there is only logged.

With metrics on (a ``RelayRecorder`` that wants them), each batch is reported once its
transaction is over, and the backlog (pending and failed counts, the oldest pending event's age)
is read at most every ``backlog_every`` seconds, between batches: never by a scrape.

While ``run`` loops it logs a status line every ``status_interval`` seconds (``status()``:
published by this relay, then retrying, failed, pending and lag in the outbox now).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from qulab.core.db import Database
from qulab.core.errors import BrokerUnavailable, QulabError, ServiceUnavailable
from qulab.core.events import Event, from_wire
from qulab.core.models import EventStatus, utcnow
from qulab.core.outbox import traced
from qulab.core.outbox.guard import RelayGuard
from qulab.core.outbox.message import OutboxMessage
from qulab.core.outbox.notify import PgListener, asyncpg_dsn
from qulab.core.outbox.ordered import OrderedLane, ranges, rounds
from qulab.core.outbox.publisher import Failures, Publisher
from qulab.core.outbox.repository import OutboxRepository
from qulab.core.outbox.retry import RetryPolicy
from qulab.core.recorders import ALL_PARTITIONS, NO_RELAY_METRICS, RelayRecorder
from qulab.core.status_line import StatusLine
from qulab.core.status_line import finish as finish_status
from qulab.core.status_line import start as start_status

log = logging.getLogger(__name__)

OUTAGE_ERRORS = (BrokerUnavailable, ConnectionError, OSError, TimeoutError)
FIRST = asyncio.FIRST_COMPLETED
REPAIR_WAIT = 2.0  # seconds a pass waits at its end for its cache repairs to land
REPAIR_TASK_NAME = "qulab relay: apply durable handlers to a published batch"
BACKLOG_COUNT_CAP = 1_000_000  # the backlog gauges stop counting here (the query stays bounded)
PARTITION_LAG_CAP = 10_000  # pending events looked at for the per-partition lag
FENCE_RETRY = 0.02  # seconds before looking again at events waiting behind the commit fence
# The largest batch whose marks an ordered relay leaves to the next claim. The round trip it
# saves is worth 15-25 % of the drain rate at batch 10; at 100 it broke even, and at 500 the
# claim's walk over the rows it marks cost more (6-12 % slower), so larger batches mark their own.
MARKS_WITH_THE_NEXT_CLAIM_UP_TO = 50

# Called with each claimed batch just before it is published (to trace or hold it).
BatchHook = Callable[[list[OutboxMessage]], Awaitable[None]]


@dataclass
class PassResult:
    """What one batch or pass did."""

    claimed: int = 0
    published: int = 0
    retried: int = 0
    dead: int = 0
    batches: int = 0
    outage: str | None = None

    def add(self, other: PassResult) -> None:
        self.claimed += other.claimed
        self.published += other.published
        self.retried += other.retried
        self.dead += other.dead
        self.batches += other.batches
        self.outage = other.outage or self.outage

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class _Sent:
    failures: Failures
    outage: str | None  # a broker outage: recorded on the events, never dead-letters them
    seconds: float = 0.0  # how long the broker took


@dataclass(frozen=True)
class _Unmarked:
    """A full batch, all published, whose marks the next claim writes."""

    messages: list[OutboxMessage]
    sent: _Sent
    published_at: datetime

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.messages]


class Relay:
    wait_report = 5.0  # seconds between "waiting for the database" lines during a stalled pass
    stop_grace = 3.0  # seconds a pass may still take once stop() was asked for
    log_outages = True  # False when the caller reports the outage itself (`relay --once`)
    backlog_every = 1.0  # seconds between two backlog reads for the metrics, at least

    def __init__(
        self,
        db: Database,
        publisher: Publisher,
        *,
        owns_publisher: bool = False,
        batch_size: int | None = None,
        interval: float | None = None,
        policy: RetryPolicy | None = None,
        publish_timeout: float | None = None,
        listen: bool = True,
        metrics: RelayRecorder | None = None,
        ordered: bool | None = None,
        before_publish: BatchHook | None = None,
        status_interval: float | None = None,
    ) -> None:
        settings = db.settings
        self.db = db
        self._owns_publisher = owns_publisher
        self.publisher = publisher
        self.batch_size = batch_size or settings.relay.batch_size
        self.interval = interval or settings.relay.interval
        self.policy = policy or RetryPolicy.from_settings(settings)
        self.publish_timeout = publish_timeout or settings.broker.publish_timeout
        self.metrics: RelayRecorder = metrics or NO_RELAY_METRICS
        self.status_interval = (
            settings.log.status_interval if status_interval is None else status_interval
        )
        self._backlog_read_at: float | None = None
        self.listen = listen and db.dialect == "postgresql" and settings.relay.notify
        self.ordered = (settings.relay.ordered if ordered is None else ordered) and (
            db.dialect == "postgresql"
        )
        self.lane = (
            OrderedLane(
                db,
                lease_seconds=settings.relay.lease_seconds,
                partitions=settings.relay.partitions,
            )
            if self.ordered
            else None
        )
        self.before_publish = before_publish
        self.totals = PassResult()
        self.last_outage: str | None = None
        self._guard = RelayGuard(db)
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._listener: PgListener | None = None
        self._waiting_on = "the database"
        self._steps = 0  # claims, publishes and records done: a stalled pass stops counting
        self._repairs: set[asyncio.Task[None]] = set()
        self._looping = False
        self._fenced = False  # the last pass saw committed events wait behind the fence
        # the last batch left events due now: it dead-lettered an event that held others back, or
        # (log-tailing) the slot holds more than one batch
        self._more_due = False
        # an ordered relay's full batch whose marks the next claim writes (_publish_ordered_batch)
        self._unmarked: _Unmarked | None = None
        self._in_pass = False  # publish_pending is running

    # -- control ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the relay to finish its current batch and return."""
        self._stop.set()
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def pause(self, seconds: float) -> None:
        """Wait ``seconds``, or less when stop() is asked for meanwhile."""
        await self._sleep(seconds, wakeable=False)

    def wake(self) -> None:
        """Run a pass now instead of at the next poll (NOTIFY does this on PostgreSQL)."""
        self._wake.set()

    @property
    def guard(self) -> RelayGuard:
        """The single-relay lock (needed on SQLite). A controller may acquire it before
        ``run()`` to learn at once whether another relay holds it; ``run()`` then keeps it and
        the controller releases it."""
        return self._guard

    @property
    def listening(self) -> bool:
        return self._listener is not None and self._listener.listening

    @asynccontextmanager
    async def _guarded(self) -> AsyncIterator[None]:
        if self._guard.held:
            yield
            return
        self._guard.acquire()
        try:
            yield
        finally:
            self._guard.release()

    # -- one batch, one pass -----------------------------------------------------------------

    async def publish_batch(self) -> PassResult:
        """Claim, publish and record one batch. Outside a pass its events are marked when it
        returns; within one an ordered relay's full batch may leave its marks to the next claim
        (``_publish_ordered_batch``)."""
        result = await self._batch(keep_marks=self._in_pass)
        if self.lane is not None and not self._in_pass:
            await self._mark_unmarked(self.lane)
        return result

    async def _batch(self, *, keep_marks: bool) -> PassResult:
        """One batch; ``keep_marks``: an ordered relay's full batch may leave its marks to the
        next claim (``_publish_ordered_batch``)."""
        if self.lane is not None:
            try:
                return await self._publish_ordered_batch(self.lane, keep_marks)
            except ServiceUnavailable as error:
                if not self.lane.kept.reused:
                    raise
                # The kept connection died while idle (no pre-ping guards it): once more, on a
                # fresh one. Anything the broker got but the database did not record is pending.
                log.info("relay connection lost, reconnecting: %s", error)
                return await self._publish_ordered_batch(self.lane, keep_marks)
        now = utcnow()
        async with self.db.connect() as conn:
            if self.db.dialect == "postgresql":
                async with conn.begin():
                    messages = await OutboxRepository(conn).claim(self.batch_size, now, lock=True)
                    if not messages:
                        return PassResult()
                    sent = await self._send(messages)
                    result = await self._record(conn, messages, sent)
            else:
                async with conn.begin():
                    messages = await OutboxRepository(conn).claim(self.batch_size, now, lock=False)
                if not messages:
                    return PassResult()
                sent = await self._send(messages)
                async with conn.begin():
                    result = await self._record(conn, messages, sent)
        self._repair(messages, sent)
        self._report(messages, sent)
        self._steps += 1
        self.totals.add(result)
        return result

    async def _publish_ordered_batch(self, lane: OrderedLane, keep_marks: bool) -> PassResult:
        """The ordered relay's batch, on its kept connection: renew the leases when due,
        claim behind the fence in the leased partitions, publish in rounds, record.

        A full batch whose events all went out, in a pass that goes on, leaves its marks to the
        next claim, which writes them in the same statement: three round trips a batch instead
        of four. Left marks are written before the leases may move and when the pass ends; if
        their transaction fails, the events are pending and sent again (at least once)."""
        if self._unmarked is not None and lane.beat_due(share=self._looping):
            await self._mark_unmarked(lane)
        if not await lane.heartbeat(share=self._looping):
            return PassResult()
        now = utcnow()
        unmarked, self._unmarked = self._unmarked, None
        attempted: list[OutboxMessage] = []
        sent = _Sent({}, None)
        keep = False
        async with lane.kept.transaction() as conn:
            messages = await lane.claim(
                conn,
                self.batch_size,
                now,
                unmarked.ids if unmarked else (),
                unmarked.published_at if unmarked else None,
            )
            if len(messages) < self.batch_size:  # the last batch of this pass
                self._fenced = await lane.fenced(conn)
            if messages:
                attempted, sent = await self._send_rounds(messages)
                keep = (
                    keep_marks
                    and self.batch_size <= MARKS_WITH_THE_NEXT_CLAIM_UP_TO
                    and len(attempted) == self.batch_size
                    and not sent.failures
                    and not self.stopping
                )
                result = await self._record(conn, attempted, sent, keep_marks=keep)
                result.claimed = len(messages)
        if unmarked is not None:
            self._report(unmarked.messages, unmarked.sent)  # their marks are committed now
        if not messages:
            return PassResult()
        # A dead-lettered event released its aggregate: the events it held back in this batch
        # are due now, so the pass goes on.
        self._more_due = result.dead > 0 and len(attempted) < len(messages)
        self._repair(attempted, sent)
        if keep:
            self._unmarked = _Unmarked(attempted, sent, utcnow())
        else:
            self._report(attempted, sent)
        self._steps += 1
        self.totals.add(result)
        return result

    async def _mark_unmarked(self, lane: OrderedLane) -> None:
        """Write the marks a full batch left to the next claim, in a transaction of their own."""
        unmarked, self._unmarked = self._unmarked, None
        if unmarked is None:
            return
        async with lane.kept.transaction() as conn:
            await OutboxRepository(conn).mark_as_published(unmarked.ids, unmarked.published_at)
        self._report(unmarked.messages, unmarked.sent)

    async def _send_rounds(
        self, messages: list[OutboxMessage]
    ) -> tuple[list[OutboxMessage], _Sent]:
        """Publish ``rounds(messages)`` one after the other within one publish timeout. An
        aggregate whose event failed sits out the later rounds (its events stay pending, not
        attempted); an outage or the timeout ends the batch."""
        self._steps += 1  # the claim answered
        self._waiting_on = "the broker"
        if self.before_publish is not None:
            await self.before_publish(messages)
        clock = asyncio.get_running_loop().time
        deadline = clock() + self.publish_timeout
        started = time.perf_counter()
        attempted: list[OutboxMessage] = []
        failures: dict[str, str] = {}
        blocked: set[str] = set()
        outage: str | None = None
        try:
            for batch in rounds(messages):
                batch = [m for m in batch if m.aggregate_id not in blocked]
                if not batch:
                    continue
                left = deadline - clock()
                if left <= 0:
                    break
                sent = await self._publish(batch, left)
                attempted.extend(batch)
                failures.update(sent.failures)
                if sent.outage:
                    outage = sent.outage
                    break
                blocked.update(m.aggregate_id for m in batch if m.id in sent.failures)
        finally:
            self._waiting_on = "the database"
            self._steps += 1
        return attempted, _Sent(failures, outage, time.perf_counter() - started)

    async def publish_pending(self, max_batches: int | None = None) -> PassResult:
        """Publish batches until nothing is due, the broker is down, or stop() was called."""
        total = PassResult()
        async with self._guarded():
            self._in_pass = True
            try:
                while not self.stopping and (max_batches is None or total.batches < max_batches):
                    result = await self.publish_batch()
                    total.add(result)
                    await self.refresh_backlog()
                    if result.outage:
                        break
                    if result.claimed < self.batch_size and not self._more_due:
                        break
                if self.lane is not None:
                    await self._mark_unmarked(self.lane)
            finally:
                self._in_pass = False
                self._unmarked = None  # a pass that failed leaves them pending: sent again
                if self.lane is not None and not self._looping:
                    await self.lane.leave()  # a single pass gives its partitions back
            if not self._looping:  # a single pass waits for its repairs; the loop never does
                await self.settle_repairs()
        return total

    def _repair(self, messages: list[OutboxMessage], sent: _Sent) -> None:
        """Start applying the durable handlers to this batch's published events."""
        if not self.db.bus.handlers(durable_only=True):
            return
        events = [event for m in messages if m.id not in sent.failures if (event := _typed(m))]
        if events:
            replicas = getattr(self.db, "replicas", None)  # a test's fake database has none
            replay = self._replay(events) if replicas else self.db.bus.replay(events)
            task = asyncio.get_running_loop().create_task(replay, name=REPAIR_TASK_NAME)
            self._repairs.add(task)
            task.add_done_callback(self._repairs.discard)

    async def _replay(self, events: list[Event]) -> None:
        """With read replicas, the repair carries a position past these events' commits (they
        were all committed before the batch was read), so the generations it bumps guard later
        cache fills as the writer's own invalidation would have (docs/scaling.md). It runs in a
        task of its own: the position stays in that task's context."""
        from qulab.core import consistency

        assert self.db.replicas is not None
        try:
            consistency.wrote(await self.db.replicas.commit_token())
        except QulabError as error:
            log.warning("repairing without a consistency token: %s", error)
        await self.db.bus.replay(events)

    def _report(self, messages: list[OutboxMessage], sent: _Sent) -> None:
        """Count this batch for the metrics (after its transaction, so a batch whose marks
        were rolled back is not counted as published twice when the relay sends it again)."""
        if self.metrics is NO_RELAY_METRICS:
            return
        failed = [m for m in messages if m.id in sent.failures]
        self.metrics.batch(
            sent.seconds,
            published=[m.type for m in messages if m.id not in sent.failures],
            failed=[m.type for m in failed],
            dead=[m.type for m in failed if self._is_dead(m, sent)],
        )

    async def refresh_backlog(self) -> None:
        """Read the backlog for the metrics if they want it and the last read is older than
        ``backlog_every``. A database that does not answer leaves the gauges as they were; their
        refresh time says how old they are."""
        if not self.metrics.wants_backlog:
            return
        now = time.monotonic()
        last = self._backlog_read_at
        if last is not None and now - last < self.backlog_every:
            return
        self._backlog_read_at = now
        partitions = self.lane.partitions if self.lane is not None else None
        try:
            async with self.db.connect() as conn:
                repository = OutboxRepository(conn)
                found = await repository.backlog(BACKLOG_COUNT_CAP)
                by_partition = (
                    await repository.oldest_pending_by_partition(partitions, PARTITION_LAG_CAP)
                    if partitions is not None
                    else {}
                )
        except ServiceUnavailable as error:
            log.debug("outbox backlog not read for the metrics: %s", error)
            return
        read_at = utcnow()

        def lag(oldest: datetime | None) -> float:
            return 0.0 if oldest is None else max((read_at - oldest).total_seconds(), 0.0)

        lags = {ALL_PARTITIONS: lag(found.oldest_pending_at)}
        if partitions is not None:  # every partition, so one that caught up drops to 0
            lags.update({str(p): lag(by_partition.get(p)) for p in range(partitions)})
        self.metrics.backlog(pending=found.pending, failed=found.failed, lag_seconds=lags)

    async def settle_repairs(self) -> None:
        """Wait up to ``REPAIR_WAIT`` seconds for the repairs started so far (before a pass
        returns or the relay stops). One still running then keeps running; its cache retries
        on its own."""
        if self._repairs:
            await asyncio.wait(set(self._repairs), timeout=REPAIR_WAIT)

    async def _send(self, messages: list[OutboxMessage]) -> _Sent:
        if self.before_publish is not None:
            await self.before_publish(messages)
        self._steps += 1  # the claim answered
        self._waiting_on = "the broker"
        started = time.perf_counter()
        try:
            sent = await self._publish(messages)
            return replace(sent, seconds=time.perf_counter() - started)
        finally:
            self._waiting_on = "the database"
            self._steps += 1

    async def _publish(self, messages: list[OutboxMessage], within: float | None = None) -> _Sent:
        try:
            async with asyncio.timeout(within or self.publish_timeout):
                failures = await traced.publish(self.publisher, messages)  # spans if on
        except TimeoutError:
            outage = f"publish timed out after {self.publish_timeout:g}s"
            return _Sent({m.id: outage for m in messages}, outage)
        except OUTAGE_ERRORS as error:
            outage = f"{type(error).__name__}: {error}"
            return _Sent({m.id: outage for m in messages}, outage)
        except Exception as error:
            # Not an outage the publisher recognised: count it against every message.
            log.exception("publisher %s failed a batch", self.publisher.description)
            return _Sent({m.id: f"{type(error).__name__}: {error}" for m in messages}, None)
        return _Sent(failures, None)

    async def _record(
        self,
        conn: AsyncConnection,
        messages: list[OutboxMessage],
        sent: _Sent,
        *,
        keep_marks: bool = False,
    ) -> PassResult:
        """Mark the published events (unless ``keep_marks``: the next claim will) and schedule
        a retry or dead-letter each failed one."""
        now = utcnow()
        ok = [m.id for m in messages if m.id not in sent.failures]
        if not keep_marks:
            await OutboxRepository(conn).mark_as_published(ok, now)
        result = PassResult(claimed=len(messages), published=len(ok), batches=1)
        updates = []
        for message in messages:
            error = sent.failures.get(message.id)
            if error is None:
                continue
            attempts = message.attempts + 1
            dead = self._is_dead(message, sent)
            delay = timedelta(seconds=self.policy.delay(attempts))
            updates.append(
                {
                    "b_id": message.id,
                    "b_status": EventStatus.FAILED.value if dead else EventStatus.PENDING.value,
                    "b_attempts": attempts,
                    "b_error": error,
                    "b_next": None if dead else now + delay,
                    "b_now": now,
                }
            )
            if dead:
                result.dead += 1
                log.error(
                    "event %s dead-lettered after %d attempts: %s",
                    message.id,
                    attempts,
                    error,
                    extra=_about(message),
                )
            else:
                result.retried += 1
        await OutboxRepository(conn).record_failures(updates)
        if sent.outage:
            result.outage = sent.outage
            if self.last_outage is None and self.log_outages:
                log.warning("broker unavailable, events stay pending: %s", sent.outage)
        elif self.last_outage is not None:
            log.warning("broker available again")
        self.last_outage = sent.outage
        return result

    def _is_dead(self, message: OutboxMessage, sent: _Sent) -> bool:
        """A failed message is dead-lettered when it used its last attempt, unless the broker
        as a whole was down (an outage is never the events' fault)."""
        return sent.outage is None and self.policy.is_exhausted(message.attempts + 1)

    # -- status ----------------------------------------------------------------------------

    async def status(self, now: datetime | None = None) -> StatusLine:
        """The relay's status line: what it published since it started, then what the outbox
        holds ``now`` (every relay's events): retrying, failed (dead letters), pending, lag."""
        context = {}
        if self.lane is not None:
            context = {"relay": self.lane.id, "partitions": ranges(self.lane.held)}
        published = self.totals.published
        try:
            async with self.db.connect() as conn:
                repository = OutboxRepository(conn)
                found = await repository.backlog(BACKLOG_COUNT_CAP)
                retrying: int | None = await self._retrying(conn)
        except ServiceUnavailable as error:
            log.debug("outbox not read for the status line: %s", error)
            counts = {"published": published, "retrying": None, "failed": None, "pending": None}
            return StatusLine("relay status", counts, None, context)
        oldest = found.oldest_pending_at
        lag = 0.0 if oldest is None else max(((now or utcnow()) - oldest).total_seconds(), 0.0)
        counts = {
            "published": published,
            "retrying": retrying,
            "failed": found.failed,
            "pending": found.pending,
        }
        return StatusLine("relay status", counts, lag, context)

    async def _retrying(self, conn: AsyncConnection) -> int:
        """Events waiting for another attempt."""
        return await OutboxRepository(conn).retrying_count()

    async def report_status(self) -> StatusLine:
        """Log the status line (at INFO) and return it."""
        line = await self.status()
        line.log(log)
        return line

    # -- the loop ------------------------------------------------------------------------------

    async def run(self) -> PassResult:
        """Relay until stop(): a pass, then wait for NOTIFY, the poll interval, or a backoff."""
        outages = 0
        self._looping = True
        async with self._guarded():
            if self.listen:
                self._listener = PgListener(
                    asyncpg_dsn(self.db.engine.url),
                    self.db.settings.relay.channel,
                    self._wake,
                    timeout=self.db.settings.database.connect_timeout,
                )
            reporting = start_status(
                self.status_interval, self.report_status, self._stop, "qulab relay: status line"
            )
            try:
                while not self.stopping:
                    self._wake.clear()
                    result = await self._watched_pass()
                    if self.stopping:
                        break
                    if result.outage:
                        outages += 1
                        await self._sleep(self.policy.delay(outages), wakeable=False)
                        continue
                    outages = 0
                    if self._listener is not None:
                        await self._listener.ensure()
                    await self._sleep(self._idle_time(), wakeable=True)
            finally:
                await finish_status(reporting)
                if self._listener is not None:
                    await self._listener.close()
                if self.lane is not None:
                    await self.lane.leave()
                self._looping = False
                await self.settle_repairs()
                if self._owns_publisher:
                    await self.publisher.close()
        return self.totals

    async def _watched_pass(self) -> PassResult:
        """A pass that cannot hold the relay hostage: while the database does not answer it says
        so every ``wait_report`` seconds, and once stop() is asked for it gets ``stop_grace``
        seconds to finish before it is cancelled (its claimed events stay pending)."""
        work = asyncio.create_task(self._pass_surviving_database_errors())
        stop = asyncio.create_task(self._stop.wait())
        clock = asyncio.get_running_loop().time
        since, seen = clock(), self._steps
        try:
            while not stop.done():
                await asyncio.wait({work, stop}, timeout=self.wait_report, return_when=FIRST)
                if work.done():
                    return work.result()
                if stop.done():
                    break
                if self._steps != seen:  # a long pass that is getting somewhere
                    since, seen = clock(), self._steps
                    continue
                silent = clock() - since
                log.warning("waiting for %s: no answer for %.0fs", self._waiting_on, silent)
            await asyncio.wait({work}, timeout=self.stop_grace)
            if work.done():
                return work.result()
            log.warning(
                "stopping without finishing the current pass: %s has not answered; "
                "its events stay pending",
                self._waiting_on,
            )
            work.cancel()
            await asyncio.wait({work}, timeout=self.stop_grace)
            return PassResult(outage=f"stopped while waiting for {self._waiting_on}")
        finally:
            stop.cancel()
            if not work.done():  # the relay itself was cancelled
                work.cancel()

    def _idle_time(self) -> float:
        """How long the loop waits for a NOTIFY before the next pass: the poll interval; for an
        ordered relay at most until its next heartbeat, and only a moment while committed events
        wait behind the fence (the transaction holding them back may never NOTIFY)."""
        if self.lane is None:
            return self.interval
        if self._fenced:
            return min(self.interval, FENCE_RETRY)
        return min(self.interval, self.lane.beat_every)

    async def _pass_surviving_database_errors(self) -> PassResult:
        try:
            return await self.publish_pending()
        except ServiceUnavailable as error:
            log.warning("relay pass failed, will retry: %s", error)
            return PassResult(outage=str(error))

    async def _sleep(self, seconds: float, *, wakeable: bool) -> None:
        event = self._wake if wakeable else self._stop
        with suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()


def _about(message: OutboxMessage) -> dict[str, str]:
    """The structured fields of a log record about one event."""
    return {
        "event_id": message.id,
        "event_type": message.type,
        "aggregate_id": message.aggregate_id,
    }


def _typed(message: OutboxMessage) -> Event | None:
    """The typed event of a published message (None, logged, when its payload is unusable)."""
    try:
        return from_wire(
            message.type, message.aggregate_type, message.aggregate_id, message.payload
        )
    except (ValueError, TypeError) as error:
        log.warning(
            "event %s not replayed to handlers: %s", message.id, error, extra=_about(message)
        )
        return None


def _publisher_for(db: Database, publisher: Publisher | None) -> tuple[Publisher, bool]:
    """``publisher``, or one of their own to the configured broker (and True: theirs to close).
    The bootstrap module assembles it (imported here: it imports this module)."""
    if publisher is not None:
        return publisher, False
    from qulab.core.bootstrap import open_publisher

    return open_publisher(db.settings), True


def _relay_for(db: Database, publisher: Publisher, **options: Any) -> Relay:
    """The relay of the configured mode (``qulab.core.outbox.modes``, imported here: it
    imports this module)."""
    from qulab.core.outbox.modes import relay_for

    return relay_for(db, publisher, **options)


async def publish_pending(
    db: Database,
    publisher: Publisher | None = None,
    *,
    batch_size: int | None = None,
    policy: RetryPolicy | None = None,
    max_batches: int | None = None,
) -> PassResult:
    """One pass: publish everything that is due now, then return what happened."""
    publisher, owned = _publisher_for(db, publisher)
    relay = _relay_for(
        db, publisher, owns_publisher=owned, batch_size=batch_size, policy=policy, listen=False
    )
    try:
        return await relay.publish_pending(max_batches)
    finally:
        if owned:
            await relay.publisher.close()


async def event_publisher(
    db: Database,
    publisher: Publisher | None = None,
    *,
    interval_seconds: float | None = None,
    max_events: int | None = None,
    stop: asyncio.Event | None = None,
) -> PassResult:
    """The relay loop under its codelab name: every ``interval_seconds`` (or on NOTIFY),
    publish pending events ``max_events`` at a time, until ``stop`` is set."""
    publisher, owned = _publisher_for(db, publisher)
    relay = _relay_for(
        db, publisher, owns_publisher=owned, batch_size=max_events, interval=interval_seconds
    )
    if stop is None:
        return await relay.run()

    async def _stop_when_set() -> None:
        await stop.wait()
        relay.stop()

    watcher = asyncio.create_task(_stop_when_set())
    try:
        return await relay.run()
    finally:
        watcher.cancel()
        with suppress(asyncio.CancelledError):
            await watcher
