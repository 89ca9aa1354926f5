"""The log-tailing relay (``QULAB_RELAY_MODE=wal``): committed events from PostgreSQL's
write-ahead log, through a logical replication slot, in commit order.

Writers do not change: events are inserted into ``domain_events`` in the business transaction.
A publication on that table (inserts only) feeds the slot; the relay keeps a replication stream
open on it (:mod:`.wal_stream`, pgoutput decoded by :mod:`.pgoutput`), so PostgreSQL decodes
each transaction once, as it commits, and sends it. A kept SQL session holds the slot's
session-level advisory lock: one relay streams a slot at a time, another waits and takes over
when the holder's session ends.

A batch: take whole transactions from the stream, publish their events (round after round, so
that an aggregate whose event failed sits out the rest), then in one transaction delete the
confirmed rows, write what failed to ``outbox_failures`` and count the batch on the slot's row,
and only then confirm the slot's position past the batch's last transaction. A relay killed
anywhere before the confirmation leaves the slot where it was: the next stream sends that batch
again (at least once), never skips it. A broker outage confirms nothing and reopens the stream
at the slot's position. A single pass (``publish_pending`` outside the loop) first writes a mark
into the log (``pg_logical_emit_message``) and reads until the mark comes back: then it has
seen every event committed before it started.

Failures do not hold the slot: a failed event goes to ``outbox_failures`` (retrying, with the
same backoff and dead letter as the polling relay), and later events of its aggregate join it as
``held``; each pass publishes the due ones (:meth:`WalRelay._retry_batch`). When the slot is
created, events already pending (written before it, so not in its stream) join that record too.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from qulab.core import tracing
from qulab.core.db import Database, KeptConnection
from qulab.core.errors import ReplicationRefused, ServiceUnavailable
from qulab.core.models import utcnow
from qulab.core.outbox.message import OutboxMessage
from qulab.core.outbox.pgoutput import Transaction, lsn_text
from qulab.core.outbox.publisher import Publisher
from qulab.core.outbox.relay import PassResult, Relay, _Sent
from qulab.core.outbox.wal_repository import (
    FAILED,
    HELD,
    MARK_PREFIX,
    RETRYING,
    SlotInfo,
    WalRepository,
)
from qulab.core.outbox.wal_stream import WalStream

log = logging.getLogger(__name__)

EVENTS = "domain_events"
SLOT_BUSY_WAIT = 2.0  # seconds to wait for a previous owner's stream to end, per pass
VISIBLE_WAIT = 5.0  # seconds a streamed transaction may take to become visible
FAILURES_EVERY = 1.0  # seconds between reads of a failures record believed to hold nothing open
RECORD_BEHIND = 8  # batches' worth of published events that may wait for their record


@dataclass(frozen=True)
class _Published:
    """A batch the broker confirmed, waiting for its record: its event ids, its transactions
    (their ids, should its rows not be visible yet), where the slot may move past it, and
    whether failure entries of its events may exist."""

    ids: list[str]
    transactions: list[Transaction]
    end: int
    forget: bool


class WalRelay(Relay):
    """A relay that tails the write-ahead log instead of polling (PostgreSQL only)."""

    def __init__(self, db: Database, publisher: Publisher, **options: Any) -> None:
        options["ordered"] = False
        options["listen"] = False  # the stream itself wakes the loop when a commit arrives
        super().__init__(db, publisher, **options)
        self.slot = db.settings.relay.slot
        self.kept = KeptConnection(db.engine)
        self.stream: WalStream | None = None
        self._owner = False  # the kept session took the slot's lock
        self._released = False  # the last retry dead-lettered an event that held others back
        self._waiting = False  # another relay held the slot at the last try
        self._mark_wanted = False  # a single pass: mark the log's end, then read up to it
        self._mark: bytes | None = None  # the mark this pass reads up to
        # Whether the failures record may hold open entries (retrying or held): only the slot's
        # owner adds them, so while it owns the slot it knows; while it believes there are none
        # it reads the record once a second (``outbox replay`` may put a dead letter back), and
        # skips the held check and the cleanup on the hot path.
        self._failures_open = True
        self._failures_read_at = -FAILURES_EVERY
        self.recorder = KeptConnection(db.engine)  # records published batches behind the stream
        self._unrecorded: list[_Published] = []
        self._recording: asyncio.Task[None] | None = None

    @property
    def owner(self) -> bool:
        """Whether this relay holds the slot (its kept session, the one that took the lock,
        is still open)."""
        return self._owner and self.kept.open

    @property
    def listening(self) -> bool:
        """Whether the relay is woken by commits: its stream is open (it needs no NOTIFY)."""
        return self.stream is not None

    # -- one batch -----------------------------------------------------------------------------

    async def publish_batch(self) -> PassResult:
        """Retry what is due in the failures record, then publish the stream's next batch."""
        if not await self._own():
            return PassResult()
        result = await self._retry_batch()  # counted in the totals already, like every batch
        if result.outage:
            return result
        stream = await self._streaming()
        if stream is None:
            return result
        try:
            transactions = await self._read(stream)
            if not transactions:
                self._more_due = self._due_more(stream)
                return result
            messages = [_message(row) for t in transactions for row in t.rows]
            if not messages:  # the relay's marks, or commits with no event of ours
                self._confirm_after_records(stream, transactions[-1].end_lsn)
                self._more_due = self._due_more(stream)
                return result
            held: set[str] = set()
            if self._failures_open:
                async with self.kept.transaction() as conn:
                    if not self._still_owner():
                        await self._drop_stream()
                        return result
                    held = await WalRepository(conn, self.slot).held_aggregates(
                        [m.aggregate_id for m in messages]
                    )
            self._more_due = self._due_more(stream)
            result.add(await self._publish_decoded(stream, transactions, messages, held))
        except BaseException:
            await self._drop_stream()  # what was taken is read again from the slot
            raise
        return result

    def _due_more(self, stream: WalStream) -> bool:
        """Whether the pass should go on at once: transactions are buffered, this single pass
        has not read up to its mark, or a dead letter released events held behind it."""
        return stream.buffered or self._mark is not None or self._released

    async def _read(self, stream: WalStream) -> list[Transaction]:
        """The next whole transactions from the stream. A single pass first writes a mark into
        the log and reads until it comes back: then it has seen every commit before it."""
        if self._mark_wanted:
            self._mark_wanted = False
            token = uuid.uuid4().hex
            async with self.kept.transaction() as conn:
                await WalRepository(conn, self.slot).mark(token)
            self._mark = token.encode()
        transactions: list[Transaction] = []
        rows = 0
        while True:
            if (
                self._mark is not None
                and not stream.buffered
                and not await stream.wait(self.publish_timeout)
            ):
                raise ServiceUnavailable(
                    f"the replication stream of slot {self.slot} sent nothing for "
                    f"{self.publish_timeout:g}s after the relay's mark"
                )
            stream.check()
            taken, marks = stream.take(self.batch_size - rows)
            transactions += taken
            rows += sum(len(t.rows) for t in taken)
            if any(m.prefix == MARK_PREFIX and m.content == self._mark for m in marks):
                self._mark = None
            if self._mark is None or rows >= self.batch_size:
                break
        return transactions

    async def _publish_decoded(
        self,
        stream: WalStream,
        transactions: list[Transaction],
        messages: list[OutboxMessage],
        held: set[str],
    ) -> PassResult:
        end = transactions[-1].end_lsn
        ready = [m for m in messages if m.aggregate_id not in held]
        attempted, sent = await self._send_rounds(ready) if ready else ([], _Sent({}, None))
        done = {m.id for m in attempted}
        if sent.outage or any(
            m.id not in done and m.aggregate_id not in _failed_aggregates(attempted, sent)
            for m in ready
        ):
            # The broker is down or the batch ran out of time: nothing recorded, nothing
            # confirmed; the stream is reopened at the slot's position and the batch read again
            # (what the broker took, at least once).
            await self._drop_stream()
            result = PassResult(claimed=len(messages), batches=1)
            result.outage = sent.outage or f"publish timed out after {self.publish_timeout:g}s"
            self._note_outage(result.outage)
            self._more_due = False
            return result
        now = utcnow()
        failures = [self._failure(m, sent, now) for m in attempted if m.id in sent.failures]
        waiting = [_held(m, now) for m in messages if m.id not in done]
        ok = [m.id for m in attempted if m.id not in sent.failures]
        if not failures and not waiting:
            # the common case: recorded behind the next batch's publish, confirmed after that
            self._unrecorded.append(_Published(ok, transactions, end, self._failures_open))
            if sum(len(p.ids) for p in self._unrecorded) >= RECORD_BEHIND * self.batch_size:
                await self._settle_records()
            else:
                self._record_behind()
            return self._finish(attempted, sent, failures, claimed=len(messages))
        await self._settle_records()  # what failed is recorded after everything before it
        async with self.kept.transaction() as conn:
            if not self._still_owner():
                await self._drop_stream()
                return PassResult()  # another relay owns the slot now and sends this batch
            wal = WalRepository(conn, self.slot)
            self._failures_open = True
            await wal.add_failures(failures + waiting)
            await wal.dead_letter([f for f in failures if f["status"] == FAILED])
            deleted = await wal.published(ok, lsn_text(end), now)
            if deleted < len(ok):
                await self._delete_when_visible(wal, transactions, ok)
        stream.confirm(end)
        return self._finish(attempted, sent, failures, claimed=len(messages))

    # -- recording behind publishing ------------------------------------------------------------

    def _record_behind(self) -> None:
        """Record the published batches in a task of their own, on a connection of their own,
        while the next batch is published: a batch's DELETE, count and confirmation no longer
        wait in line before the next publish, and batches published meanwhile share one
        transaction. Only the stream's holder publishes from the slot (PostgreSQL streams a
        slot to one session at a time), so what is recorded was published by this relay."""
        if self._recording is None or self._recording.done():
            if self._recording is not None and not self._recording.cancelled():
                error = self._recording.exception()
                if error is not None:
                    raise error
            self._recording = asyncio.create_task(self._record_all(), name="qulab wal record")

    def _confirm_after_records(self, stream: WalStream, end: int) -> None:
        """Confirm past transactions without events, but never past a published batch that is
        not recorded yet: then the position waits in line behind it."""
        if self._unrecorded or (self._recording is not None and not self._recording.done()):
            self._unrecorded.append(_Published([], [], end, False))
            self._record_behind()
        else:
            stream.confirm(end)

    async def _record_all(self) -> None:
        while self._unrecorded:
            batches, self._unrecorded = self._unrecorded, []
            await self._record_published(batches)

    async def _record_published(self, batches: list[_Published]) -> None:
        """One transaction for these published batches: delete their rows, count them; then
        confirm the slot's position past the last of them."""
        ids = [i for p in batches for i in p.ids]
        end = batches[-1].end
        if not ids:  # only positions past transactions without events
            if self.stream is not None:
                self.stream.confirm(end)
            return
        async with self.recorder.transaction() as conn:
            wal = WalRepository(conn, self.slot)
            forget = any(p.forget for p in batches)
            deleted = await wal.published(ids, lsn_text(end), utcnow(), forget=forget)
            if deleted < len(ids):
                transactions = [t for p in batches for t in p.transactions]
                await self._delete_when_visible(wal, transactions, ids)
        if self.stream is not None:
            self.stream.confirm(end)
        self._steps += 1

    async def _settle_records(self) -> None:
        """Wait until every published batch is recorded and confirmed (raises what failed)."""
        task = self._recording
        if task is not None:
            self._recording = None
            await task
        if self._unrecorded:
            batches, self._unrecorded = self._unrecorded, []
            await self._record_published(batches)

    async def _delete_when_visible(
        self, wal: WalRepository, transactions: list[Transaction], ids: list[str]
    ) -> None:
        """The stream sends a transaction once its commit is in the log, which can be a moment
        before a new snapshot sees it: then some published rows were not deleted. Wait for the
        batch's transactions to be visible and delete again (rows already gone stay gone)."""
        xids = sorted({t.xid for t in transactions if t.rows})
        clock = asyncio.get_running_loop().time
        until = clock() + VISIBLE_WAIT
        while not await wal.visible(xids):
            if clock() >= until:
                raise ServiceUnavailable(
                    f"transactions {xids} were streamed but are not visible after {VISIBLE_WAIT:g}s"
                )
            await asyncio.sleep(0.001)
        await wal.delete(ids)

    async def _retry_batch(self) -> PassResult:
        self._released = False
        return await self._retry_due()

    async def _retry_due(self) -> PassResult:
        """Publish the due events of the failures record: per aggregate, from its oldest open
        event on, once that one's retry time has come."""
        clock = time.monotonic()
        if not self._failures_open and clock - self._failures_read_at < FAILURES_EVERY:
            return PassResult()
        async with self.kept.transaction() as conn:
            if not self._still_owner():
                return PassResult()
            wal = WalRepository(conn, self.slot)
            found = await wal.open_failures(self.batch_size)
            # the record itself, not its join with the events: a row whose event is not yet
            # visible still holds its aggregate back
            self._failures_open = bool(found) or await wal.any_open()
        self._failures_read_at = clock
        now = utcnow()
        heads: dict[str, bool] = {}
        for failure in found:
            aggregate = failure.message.aggregate_id
            if aggregate not in heads:
                due = failure.next_attempt_at is None or failure.next_attempt_at <= now
                heads[aggregate] = due or failure.status == HELD or failure.replayed
        messages = [f.message for f in found if heads[f.message.aggregate_id]]
        if not messages:
            return PassResult()
        attempted, sent = await self._send_rounds(messages)
        ok = [m.id for m in attempted if m.id not in sent.failures]
        failures = (
            []
            if sent.outage
            else [self._failure(m, sent, now) for m in attempted if m.id in sent.failures]
        )
        async with self.kept.transaction() as conn:
            if not self._still_owner():
                return PassResult()
            wal = WalRepository(conn, self.slot)
            await wal.set_failures(failures)
            await wal.dead_letter([f for f in failures if f["status"] == FAILED])
            await wal.published(ok, None, now)
        result = self._finish(attempted, sent, failures, claimed=len(messages))
        self._released = result.dead > 0 and len(attempted) < len(messages)
        if sent.outage:
            result.outage = sent.outage
            self._note_outage(sent.outage)
        return result

    def _finish(
        self,
        attempted: list[OutboxMessage],
        sent: _Sent,
        failures: list[dict[str, Any]],
        *,
        claimed: int,
    ) -> PassResult:
        dead = sum(1 for f in failures if f["status"] == FAILED)
        result = PassResult(
            claimed=claimed,
            published=len(attempted) - len(sent.failures),
            retried=len(failures) - dead,
            dead=dead,
            batches=1,
        )
        for failure in failures:
            if failure["status"] == FAILED:
                log.error(
                    "event %s dead-lettered after %d attempts: %s",
                    failure["event_id"],
                    failure["attempts"],
                    failure["error"],
                )
        if not sent.outage:
            self._note_outage(None)
        self._repair(attempted, sent)
        self._report(attempted, sent)
        self._steps += 1
        self.totals.add(result)
        return result

    def _failure(self, message: OutboxMessage, sent: _Sent, now: datetime) -> dict[str, Any]:
        attempts = message.attempts + 1
        dead = self._is_dead(message, sent)
        return {
            "event_id": message.id,
            "aggregate_id": message.aggregate_id,
            "sequence": message.sequence,
            "status": FAILED if dead else RETRYING,
            "attempts": attempts,
            "error": sent.failures[message.id],
            "next": None if dead else now + timedelta(seconds=self.policy.delay(attempts)),
            "now": now,
        }

    def _note_outage(self, outage: str | None) -> None:
        if outage and self.last_outage is None and self.log_outages:
            log.warning("broker unavailable, events stay pending: %s", outage)
        elif outage is None and self.last_outage is not None:
            log.warning("broker available again")
        self.last_outage = outage

    # -- owning the slot -----------------------------------------------------------------------

    def _still_owner(self) -> bool:
        """Whether the kept session is the one that took the lock (a new session does not
        hold it: the old one ended, and another relay may own the slot now)."""
        if not self.kept.reused:
            self._owner = False
        return self._owner

    async def _own(self) -> bool:
        """Hold the slot's lock (taking it if free), with the slot, its publication and the
        drain of older events in place. False: another relay holds it; wait."""
        async with self.kept.transaction() as conn:
            if self._still_owner():
                return True
            await self._drop_stream()  # a stream left from a lost session is not ours to read
            wal = WalRepository(conn, self.slot)
            await wal.check_wal_level()
            if not await wal.try_lock():
                if not self._waiting:
                    log.info("slot %s is held by another relay; waiting to take over", self.slot)
                self._waiting = True
                return False
            if self._waiting:
                log.info("took over slot %s", self.slot)
            self._owner, self._waiting = True, False
            self._failures_open = True  # read the record again: another owner may have added
            await wal.ensure_publication()
            info = await wal.info()
        created = info is None
        if info is None:
            async with self.kept.transaction() as conn:
                lsn = await WalRepository(conn, self.slot).create_slot()
            log.info("created replication slot %s at %s", self.slot, lsn)
            info = SlotInfo(self.slot, 0, True, lsn)
        async with self.kept.transaction() as conn:
            wal = WalRepository(conn, self.slot)
            drained = await wal.drained()
            if created or drained is not True:
                now = utcnow()
                if created or drained is None:  # a new slot starts undrained
                    await wal.record_slot(info.confirmed_lsn or "0/0", now)
                moved = await wal.drain(now)
                if moved:
                    log.info("%d event(s) written before slot %s will be sent", moved, self.slot)
        return self._owner

    async def _streaming(self) -> WalStream | None:
        """The open stream on the slot, started if need be. None: the previous owner's stream
        has not ended yet (its walsender goes when it notices its client is gone)."""
        if self.stream is not None:
            return self.stream
        settings = self.db.settings
        clock = asyncio.get_running_loop().time
        until = clock() + SLOT_BUSY_WAIT
        while True:
            try:
                self.stream = await WalStream.connect(
                    self.db.engine.url,
                    self.slot,
                    self.slot,
                    EVENTS,
                    columns=MESSAGE_COLUMNS,
                    within=settings.database.connect_timeout,
                )
                break
            except ReplicationRefused as error:
                if not error.slot_busy:
                    raise
                if clock() >= until:
                    log.info(
                        "slot %s is still streamed elsewhere, will retry: %s", self.slot, error
                    )
                    return None
                await asyncio.sleep(0.05)
        if self._looping:
            self.stream.arm(self._wake.set)
        return self.stream

    async def _drop_stream(self) -> None:
        """Close the stream; batches published and not yet recorded are forgotten (unconfirmed,
        the next stream sends them again: at least once)."""
        stream, self.stream = self.stream, None
        self._mark = None
        self._unrecorded = []
        task, self._recording = self._recording, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError, Exception):  # its failure is why we are here
                await task
        if stream is not None:
            await stream.close()

    async def release(self) -> None:
        """Give the slot up: close the stream and end the kept session (its lock goes with it;
        a pooled connection returned to the pool would keep holding it)."""
        self._owner = False
        await self._drop_stream()
        await self.recorder.close()
        await self.kept.close(broken=True)

    # -- the loop --------------------------------------------------------------------------------

    async def publish_pending(self, max_batches: int | None = None) -> PassResult:
        self._mark_wanted = not self._looping
        try:
            result = await super().publish_pending(max_batches)
            try:
                await self._settle_records()  # a pass ends with its batches recorded
            except BaseException:
                await self._drop_stream()
                raise
            return result
        finally:
            if not self._looping:
                await self.release()

    async def run(self) -> PassResult:
        try:
            return await super().run()
        finally:
            await self.release()

    async def refresh_backlog(self) -> None:
        """The polling relay's backlog gauges, and the WAL the slot keeps."""
        due = self.metrics.wants_backlog and (
            self._backlog_read_at is None
            or time.monotonic() - self._backlog_read_at >= self.backlog_every
        )
        await super().refresh_backlog()
        if not due:
            return
        try:
            async with self.db.connect() as conn:
                info = await WalRepository(conn, self.slot).info()
        except ServiceUnavailable as error:
            log.debug("replication slot not read for the metrics: %s", error)
            return
        if info is not None:
            warn = self.db.settings.relay.wal_warn_bytes
            self.metrics.wal_slot(
                slot=self.slot, retained_bytes=info.retained_bytes, warn_bytes=warn
            )

    async def _retrying(self, conn: AsyncConnection) -> int:
        return await WalRepository(conn, self.slot).retrying_count()


def _failed_aggregates(attempted: Sequence[OutboxMessage], sent: _Sent) -> set[str]:
    return {m.aggregate_id for m in attempted if m.id in sent.failures}


def _held(message: OutboxMessage, now: datetime) -> dict[str, Any]:
    """A failures row for an event waiting behind an earlier one of its aggregate."""
    return {
        "event_id": message.id,
        "aggregate_id": message.aggregate_id,
        "sequence": message.sequence,
        "status": HELD,
        "attempts": 0,
        "error": None,
        "next": None,
        "now": now,
    }


MESSAGE_COLUMNS = (
    "id",
    "event_type",
    "aggregate_type",
    "aggregate_id",
    "created_at",
    "payload",
    "sequence",
    "attempts",
    "trace_context",
)
"""The columns of a streamed row a message is made of: the stream decodes only these."""


def _message(row: dict[str, str | None]) -> OutboxMessage:
    """A decoded ``domain_events`` row (every column as PostgreSQL's text) as a message."""
    trace = row.get("trace_context")
    return OutboxMessage(
        id=str(row["id"]),
        type=str(row["event_type"]),
        aggregate_type=str(row["aggregate_type"]),
        aggregate_id=str(row["aggregate_id"]),
        occurred_at=datetime.fromisoformat(str(row["created_at"])).astimezone(UTC),
        payload_json=str(row["payload"]),
        sequence=int(str(row["sequence"])),
        attempts=int(str(row.get("attempts") or 0)),
        trace_context=tracing.carrier_from(orjson.loads(trace)) if trace else None,
    )
