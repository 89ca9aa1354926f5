"""The log-tailing relay (``QULAB_RELAY_MODE=wal``): committed events from PostgreSQL's
write-ahead log, through a logical replication slot, in commit order.

Writers do not change: events are inserted into ``domain_events`` in the business transaction.
A publication on that table (inserts only) feeds the slot; the relay reads it through the SQL
interface (``pg_logical_slot_peek_binary_changes`` with pgoutput, :mod:`.pgoutput`) on one
connection it keeps, which holds the slot's session-level advisory lock: one relay decodes a
slot at a time, another waits and takes over when the holder's session ends.

A batch: peek whole transactions from the slot's confirmed position, publish their events
(round after round, so that an aggregate whose event failed sits out the rest), then in one
transaction delete the confirmed rows, write what failed to ``outbox_failures`` and count the
batch on the slot's row, and only then advance the slot past the batch's last transaction. A
relay killed anywhere before the advance leaves the slot where it was: the next owner publishes
that batch again (at least once), never skips it. A broker outage moves nothing.

Failures do not hold the slot: a failed event goes to ``outbox_failures`` (retrying, with the
same backoff and dead letter as the polling relay), and later events of its aggregate join it as
``held``; each pass publishes the due ones (:meth:`WalRelay._retry_batch`). When the slot is
created, events already pending (written before it, so not in its stream) join that record too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from qulab.core import tracing
from qulab.core.db import Database, KeptConnection
from qulab.core.errors import ServiceUnavailable
from qulab.core.models import utcnow
from qulab.core.outbox.message import OutboxMessage
from qulab.core.outbox.pgoutput import Decoder, Transaction, lsn_text
from qulab.core.outbox.publisher import Publisher
from qulab.core.outbox.relay import PassResult, Relay, _Sent
from qulab.core.outbox.wal_repository import FAILED, HELD, RETRYING, SlotInfo, WalRepository

log = logging.getLogger(__name__)

EVENTS = "domain_events"


class WalRelay(Relay):
    """A relay that tails the write-ahead log instead of polling (PostgreSQL only)."""

    def __init__(self, db: Database, publisher: Publisher, **options: Any) -> None:
        options["ordered"] = False
        super().__init__(db, publisher, **options)
        self.slot = db.settings.relay.slot
        self.kept = KeptConnection(db.engine)
        self._owner = False  # the kept session took the slot's lock
        self._released = False  # the last retry dead-lettered an event that held others back
        self._waiting = False  # another relay held the slot at the last try

    @property
    def owner(self) -> bool:
        """Whether this relay holds the slot (its kept session, the one that took the lock,
        is still open)."""
        return self._owner and self.kept.open

    # -- one batch -----------------------------------------------------------------------------

    async def publish_batch(self) -> PassResult:
        """Retry what is due in the failures record, then publish the slot's next batch."""
        if not await self._own():
            return PassResult()
        result = await self._retry_batch()  # counted in the totals already, like every batch
        if result.outage:
            return result
        async with self.kept.transaction() as conn:
            if not self._still_owner():
                return result
            wal = WalRepository(conn, self.slot)
            raw = await wal.peek(self.batch_size)
            transactions = Decoder(EVENTS).transactions(raw)
            messages = [_message(row) for t in transactions for row in t.rows]
            held = await wal.held_aggregates([m.aggregate_id for m in messages])
        self._more_due = len(raw) >= self.batch_size or self._released
        if not transactions:
            return result
        batch = await self._publish_decoded(transactions, messages, held)
        result.add(batch)
        return result

    async def _publish_decoded(
        self, transactions: list[Transaction], messages: list[OutboxMessage], held: set[str]
    ) -> PassResult:
        ready = [m for m in messages if m.aggregate_id not in held]
        attempted, sent = await self._send_rounds(ready) if ready else ([], _Sent({}, None))
        done = {m.id for m in attempted}
        if sent.outage or any(
            m.id not in done and m.aggregate_id not in _failed_aggregates(attempted, sent)
            for m in ready
        ):
            # The broker is down or the batch ran out of time: nothing recorded, the slot stays,
            # the batch is decoded and published again (what the broker took, at least once).
            result = PassResult(claimed=len(messages), batches=1)
            result.outage = sent.outage or f"publish timed out after {self.publish_timeout:g}s"
            self._note_outage(result.outage)
            self._more_due = False
            return result
        lsn = lsn_text(transactions[-1].end_lsn)
        now = utcnow()
        failures = [self._failure(m, sent, now) for m in attempted if m.id in sent.failures]
        waiting = [_held(m, now) for m in messages if m.id not in done]
        ok = [m.id for m in attempted if m.id not in sent.failures]
        async with self.kept.transaction() as conn:
            if not self._still_owner():
                return PassResult()  # another relay owns the slot now and sends this batch
            wal = WalRepository(conn, self.slot)
            await wal.add_failures(failures + waiting)
            await wal.dead_letter([f for f in failures if f["status"] == FAILED])
            await wal.published(ok, lsn, now)
        async with self.kept.transaction() as conn:
            if not self._still_owner():
                return PassResult()
            await WalRepository(conn, self.slot).advance(lsn)
        return self._finish(attempted, sent, failures, claimed=len(messages))

    async def _retry_batch(self) -> PassResult:
        self._released = False
        return await self._retry_due()

    async def _retry_due(self) -> PassResult:
        """Publish the due events of the failures record: per aggregate, from its oldest open
        event on, once that one's retry time has come."""
        async with self.kept.transaction() as conn:
            if not self._still_owner():
                return PassResult()
            found = await WalRepository(conn, self.slot).open_failures(self.batch_size)
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

    async def release(self) -> None:
        """Give the slot up: end the kept session (its lock goes with it; a pooled connection
        returned to the pool would keep holding it)."""
        self._owner = False
        await self.kept.close(broken=True)

    # -- the loop --------------------------------------------------------------------------------

    async def publish_pending(self, max_batches: int | None = None) -> PassResult:
        try:
            return await super().publish_pending(max_batches)
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
