"""``OutboxRepository``: every statement on ``domain_events`` lives here.

It works on whatever executes statements: the relay's ``AsyncConnection`` inside its own
transaction, or an ``AsyncSession`` (the unit of work, the admin commands, the read-side views).
Statements are Core on the table, so both give the same rows and no ORM identity map sits on the
relay's hot path; reads return ``EventRow`` read models, never ORM instances. Like every
repository it never commits.

One rule for publishing: ``mark_as_published`` counts the successful publish as an attempt and
clears any scheduled retry, whether the relay or a caller of the codelab's name marks the rows.

The claim keeps ``status = 'pending'`` a literal so PostgreSQL and SQLite can use the partial index
``ix_events_pending_sequence`` even with prepared statements, and walks it in sequence order.

The ordered claim (PostgreSQL, ``claim_ordered``) walks ``ix_events_pending_txid`` in
(txid, sequence) order and takes only events that are

* behind the commit fence: written by a transaction older than every transaction still open
  (``txid < xmin`` of the statement's snapshot), so no event that sorts before them can still
  be committed;
* in a partition the relay holds a live lease on (the lease rows stay ``FOR KEY SHARE`` locked
  until the batch's transaction ends, so no other relay can take one over mid-batch);
* not behind an event of their own aggregate that waits for a retry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    Table,
    Text,
    Update,
    any_,
    bindparam,
    cast,
    delete,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.elements import ColumnClause
from sqlalchemy.types import String

from qulab.core import tracing
from qulab.core.models import DomainEvent, EventStatus, utcnow
from qulab.core.outbox.message import OutboxMessage

events: Table = DomainEvent.__table__  # type: ignore[assignment]
c = events.c
PENDING: ColumnClause[str] = literal_column("'pending'")
MAX_ERROR = 2000

_claim = (
    select(
        c.id,
        c.event_type,
        c.aggregate_type,
        c.aggregate_id,
        c.created_at,
        cast(c.payload, Text),
        c.sequence,
        c.attempts,
        c.trace_context,
    )
    .where(c.status == PENDING)
    .where(or_(c.next_attempt_at.is_(None), c.next_attempt_at <= bindparam("now")))
    .order_by(c.sequence)
    .limit(bindparam("limit"))
)
CLAIM_LOCKED = _claim.with_for_update(skip_locked=True)
CLAIM_PLAIN = _claim

_published_values = {
    "status": EventStatus.PUBLISHED.value,
    "published_at": bindparam("now"),
    "updated_at": bindparam("now"),
    "attempts": c.attempts + 1,
    "next_attempt_at": None,
}


@cache
def _mark_published_pg() -> Update:
    """The PostgreSQL form (one array parameter), built on first use: the dialect's types are
    not imported by processes that never talk to PostgreSQL."""
    from sqlalchemy.dialects.postgresql import ARRAY

    ids = bindparam("ids", type_=ARRAY(String(36)))
    return update(events).where(c.id == any_(ids)).values(_published_values)


MARK_PUBLISHED_OTHER = (
    update(events).where(c.id.in_(bindparam("ids", expanding=True))).values(_published_values)
)


def _partition(aggregate_id: str) -> str:
    """SQL for the partition of the SQL expression ``aggregate_id``: the id hashed by
    PostgreSQL, 0 .. ``:partitions`` - 1. Computed, not stored, so the claim and the lag per
    partition agree without a column to keep in step."""
    return f"mod(hashtext({aggregate_id})::bigint + 2147483648, :partitions)"


# The newest transaction id this statement's snapshot knows of, plus one.
_SNAPSHOT_XMAX = "(pg_snapshot_xmax(pg_current_snapshot())::text)::bigint"
# The commit fence, a CTE ``fence(below)``: the oldest transaction of the statement's snapshot
# still in progress, leaving out those seen running in another database (transaction ids are
# cluster-wide, so a long transaction next door would otherwise hold every relay back); with
# none, the snapshot's xmax. Every transaction with a lower id has ended or writes elsewhere,
# and one that starts writing later gets a higher id. A transaction whose database cannot be
# seen (it just began, a prepared one, stats hidden from this role) counts as this database's:
# the fence only ever errs on the side of waiting.
# The statements below are put together from these constants only, never from input.
_FENCE = f"""fence AS MATERIALIZED (
    SELECT coalesce(
        (SELECT min(x::text::bigint) FROM pg_snapshot_xip(pg_current_snapshot()) AS x
         WHERE NOT EXISTS (
             SELECT 1 FROM pg_stat_activity AS a
             WHERE a.backend_xid = ((x::text::bigint % 4294967296)::text)::xid
               AND a.datname <> current_database())),
        {_SNAPSHOT_XMAX}
    ) AS below
)"""  # noqa: S608
CLAIM_ORDERED = text(
    f"""
WITH {_FENCE}, marked AS (
    UPDATE domain_events
    SET status = 'published', published_at = :published_at, updated_at = :published_at,
        attempts = attempts + 1, next_attempt_at = NULL
    WHERE id = ANY(CAST(:marked AS varchar[]))
    RETURNING id
), mine AS MATERIALIZED (
    SELECT coalesce(array_agg(partition), '{{}}') AS held FROM (
        SELECT partition FROM outbox_leases
        WHERE owner = :owner AND expires_at > now()
        FOR KEY SHARE
    ) AS leased
)
SELECT e.id, e.event_type, e.aggregate_type, e.aggregate_id, e.created_at, e.payload::text,
       e.sequence, e.attempts, e.trace_context
FROM domain_events AS e
WHERE e.status = 'pending'
  AND e.txid < (SELECT below FROM fence)
  AND (e.next_attempt_at IS NULL OR e.next_attempt_at <= :now)
  AND {_partition("e.aggregate_id")}::integer = ANY((SELECT held FROM mine)::integer[])
  AND e.id NOT IN (SELECT id FROM marked)
  AND NOT EXISTS (
      SELECT 1 FROM domain_events AS b
      WHERE b.status = 'pending' AND b.next_attempt_at IS NOT NULL
        AND b.aggregate_id = e.aggregate_id
        AND b.next_attempt_at > :now
        AND (b.txid, b.sequence) < (e.txid, e.sequence)
  )
ORDER BY e.txid, e.sequence
LIMIT :limit
FOR UPDATE OF e
"""  # noqa: S608
)
# A restored database may hold transaction ids this cluster never handed out (they are at or
# beyond the snapshot's xmax): no transaction of this cluster wrote those rows, so they are old.
# A row that gets a new id after this statement's snapshot is invisible to it, so this cannot
# touch an event of a transaction still running.
REPAIR_FUTURE_TXIDS = text(
    f"UPDATE domain_events SET txid = 0 WHERE status = 'pending' AND txid >= {_SNAPSHOT_XMAX}"  # noqa: S608
)
FENCED = text(
    f"""
WITH {_FENCE}
SELECT EXISTS (
    SELECT 1 FROM domain_events WHERE status = 'pending' AND txid >= (SELECT below FROM fence)
)
"""  # noqa: S608
)
# The oldest pending event per partition among the ``cap`` oldest pending events (bounded on
# the (status, created_at) index however long the backlog; a partition whose events all lie
# beyond the cap is absent, i.e. reported as not lagging behind those that are).
OLDEST_PENDING_BY_PARTITION = text(
    f"""
SELECT {_partition("oldest.aggregate_id")}::integer AS part, min(oldest.created_at)
FROM (
    SELECT aggregate_id, created_at FROM domain_events
    WHERE status = 'pending' ORDER BY created_at LIMIT :cap
) AS oldest
GROUP BY part
"""  # noqa: S608
)

RECORD_FAILURE = (
    update(events)
    .where(c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        last_error=bindparam("b_error"),
        next_attempt_at=bindparam("b_next"),
        updated_at=bindparam("b_now"),
    )
)
_ROW_COLUMNS = (
    c.id,
    c.event_type,
    c.aggregate_type,
    c.aggregate_id,
    c.payload,
    c.status,
    c.attempts,
    c.last_error,
    c.sequence,
    c.created_at,
    c.updated_at,
    c.published_at,
    c.next_attempt_at,
)


# -- the log-tailing relay (qulab.core.outbox.wal_relay): its few statements on this table --------

# Events written before the slot existed are not in its stream: they join the failures record
# (due now, or at the retry time they had), where the retry pass publishes them in order.
HAND_PENDING_TO_FAILURES = text(
    """
INSERT INTO outbox_failures
    (event_id, aggregate_id, sequence, status, attempts, last_error, next_attempt_at, updated_at)
SELECT id, aggregate_id, sequence,
       CASE WHEN next_attempt_at IS NULL THEN 'held' ELSE 'retrying' END,
       attempts, last_error, next_attempt_at, :now
FROM domain_events WHERE status = 'pending'
ORDER BY txid, sequence
ON CONFLICT (event_id) DO NOTHING
"""
)
DELETE_PUBLISHED = text("DELETE FROM domain_events WHERE id = ANY(CAST(:ids AS varchar[]))")
DELETE_PUBLISHED_FOR_SLOT = text(
    """
WITH forgotten AS (
    DELETE FROM outbox_failures
    WHERE CAST(:forget AS boolean) AND event_id = ANY(CAST(:ids AS varchar[]))
), gone AS (
    DELETE FROM domain_events WHERE id = ANY(CAST(:ids AS varchar[])) RETURNING 1
), counted AS (
    UPDATE outbox_wal_slots SET published = published + :count, confirmed_lsn = :lsn,
           updated_at = :now
    WHERE slot = :slot
)
SELECT count(*) FROM gone
"""
)
"""The log-tailing relay's record of a published batch in one round trip: its rows deleted
(and their entries in its failures record when ``forget``), counted on the slot's row; the
answer is the number of rows deleted."""
DEAD_LETTER = text(
    """
UPDATE domain_events SET status = 'failed', attempts = :attempts, last_error = :error,
       next_attempt_at = NULL, updated_at = :now
WHERE id = :event_id
"""
)
# The log-tailing relay's retrying events, with their type, latest change first.
RETRYING_FAILURES = text(
    """
SELECT f.event_id, e.event_type, f.aggregate_id, f.attempts, f.last_error, f.next_attempt_at,
       f.updated_at
FROM outbox_failures AS f JOIN domain_events AS e ON e.id = f.event_id
WHERE f.status = 'retrying' AND e.status = 'pending'
ORDER BY f.updated_at DESC, f.event_id
LIMIT :limit
"""
)
# What the retry pass looks at: every open failure whose event is still pending (a dead letter
# is ``failed`` on both sides until ``outbox replay`` puts its event back), oldest first.
OPEN_FAILURES = text(
    """
SELECT f.event_id, f.status, f.attempts, f.next_attempt_at, e.status,
       e.event_type, e.aggregate_type, e.aggregate_id, e.created_at, e.payload::text,
       e.sequence, e.trace_context
FROM outbox_failures AS f JOIN domain_events AS e ON e.id = f.event_id
WHERE e.status = 'pending'
ORDER BY f.sequence
LIMIT :limit
"""
)


@dataclass(frozen=True)
class EventRow:
    """One outbox row as callers see it (a read model, detached from any session)."""

    id: str
    event_type: str
    aggregate_type: str
    aggregate_id: str
    payload: dict[str, Any]
    status: str
    attempts: int
    last_error: str | None
    sequence: int
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    next_attempt_at: datetime | None


@dataclass(frozen=True)
class Backlog:
    """What waits in the outbox: pending and dead-lettered counts (each stopping at a cap) and
    the creation time of the oldest pending event (None when none waits)."""

    pending: int
    failed: int
    oldest_pending_at: datetime | None


def _capped_count(status: str, cap: int) -> Any:
    """``count(*)`` of the rows in ``status``, reading at most ``cap`` index entries."""
    rows = select(literal(1)).where(c.status == status).limit(cap).subquery()
    return select(func.count()).select_from(rows).scalar_subquery()


def _event_row(row: Row[Any]) -> EventRow:
    return EventRow(**row._mapping)


class OutboxRepository:
    """The outbox table: write, claim, mark, fail, replay, purge, count and list events."""

    def __init__(self, executor: AsyncConnection | AsyncSession) -> None:
        self.executor = executor

    # -- writing -----------------------------------------------------------------------------

    async def add(self, event: DomainEvent) -> DomainEvent:
        """Add and flush an event in the session's transaction (needs an ``AsyncSession``)."""
        if not isinstance(self.executor, AsyncSession):
            raise TypeError("OutboxRepository.add needs an AsyncSession")
        self.executor.add(event)
        await self.executor.flush()
        return event

    # -- the relay ---------------------------------------------------------------------------

    async def claim(self, limit: int, now: datetime, *, lock: bool) -> list[OutboxMessage]:
        """Up to ``limit`` due pending events, oldest sequence first. With ``lock`` (PostgreSQL)
        the rows stay locked until the transaction ends and other relays skip them."""
        statement = CLAIM_LOCKED if lock else CLAIM_PLAIN
        rows = (await self.executor.execute(statement, {"now": now, "limit": limit})).all()
        return _messages(rows)

    async def claim_ordered(
        self,
        owner: str,
        partitions: int,
        limit: int,
        now: datetime,
        marking: Sequence[str] = (),
        published_at: datetime | None = None,
    ) -> list[OutboxMessage]:
        """PostgreSQL: up to ``limit`` events behind the commit fence, in the partitions
        ``owner`` leases, not held back by a retrying event of their aggregate, in (txid,
        sequence) order. Rows and leases stay locked until the transaction ends.

        ``marking``: events published before, marked published (at ``published_at``) by the same
        statement as ``mark_as_published`` would, saving the relay a round trip per batch."""
        params = {
            "owner": owner,
            "partitions": partitions,
            "limit": limit,
            "now": now,
            "marked": list(marking),
            "published_at": published_at or now,
        }
        rows = (await self.executor.execute(CLAIM_ORDERED, params)).all()
        return _messages(rows)

    async def repair_future_txids(self) -> int:
        """PostgreSQL: pending events whose transaction id this cluster never handed out (a
        restore from another cluster) count as old (txid 0). Returns how many changed."""
        result = await self.executor.execute(REPAIR_FUTURE_TXIDS)
        return int(getattr(result, "rowcount", 0) or 0)

    async def fenced(self) -> bool:
        """PostgreSQL: whether committed pending events wait behind the commit fence."""
        return bool((await self.executor.execute(FENCED)).scalar_one())

    async def mark_as_published(
        self, event_ids: Sequence[str], published_at: datetime | None = None
    ) -> int:
        """Mark events published at ``published_at`` (now by default): the publish counts as an
        attempt and any scheduled retry is cleared. Returns how many rows changed."""
        if not event_ids:
            return 0
        postgresql = self._dialect() == "postgresql"
        statement = _mark_published_pg() if postgresql else MARK_PUBLISHED_OTHER
        result = await self.executor.execute(
            statement, {"ids": list(event_ids), "now": published_at or utcnow()}
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def record_failures(self, failures: list[dict[str, Any]]) -> None:
        """Each dict: b_id, b_status, b_attempts, b_error, b_next, b_now (one executemany)."""
        if failures:
            for failure in failures:
                failure["b_error"] = str(failure["b_error"])[:MAX_ERROR]
            await self.executor.execute(RECORD_FAILURE, failures)

    # -- the log-tailing relay -----------------------------------------------------------------

    async def create_publication(self, name: str) -> None:
        """PostgreSQL: the publication a logical replication slot decodes: inserts into this
        table only (deleting published rows is not decoded)."""
        quoted = self._quoted(name)
        await self.executor.execute(
            text(f"CREATE PUBLICATION {quoted} FOR TABLE domain_events WITH (publish = 'insert')")
        )

    async def delete_published_for_slot(
        self, event_ids: Sequence[str], *, slot: str, lsn: str | None, now: datetime, forget: bool
    ) -> int:
        """The log-tailing relay's record of a published batch, one statement: delete these
        events (and, with ``forget``, their ``outbox_failures`` entries) and count them on the
        slot's row of ``outbox_wal_slots``; returns how many rows went."""
        ids = list(event_ids)
        values = {"ids": ids, "forget": forget and bool(ids), "count": len(ids), "lsn": lsn}
        deleted = await self.executor.scalar(
            DELETE_PUBLISHED_FOR_SLOT, {**values, "slot": slot, "now": now}
        )
        return int(deleted or 0)

    async def hand_pending_to_failures(self, now: datetime) -> int:
        """Every pending event joins ``outbox_failures`` (the log-tailing relay's record of
        what it still has to send); returns how many joined."""
        result = await self.executor.execute(HAND_PENDING_TO_FAILURES, {"now": now})
        return int(getattr(result, "rowcount", 0) or 0)

    async def delete_published(self, event_ids: Sequence[str]) -> int:
        """Delete events the broker confirmed (the log-tailing relay keeps no published rows);
        returns how many rows went."""
        if not event_ids:
            return 0
        result = await self.executor.execute(DELETE_PUBLISHED, {"ids": list(event_ids)})
        return int(getattr(result, "rowcount", 0) or 0)

    async def dead_letter(self, rows: list[dict[str, Any]]) -> None:
        """Each dict: event_id, attempts, error, now: the event becomes ``failed``."""
        if rows:
            await self.executor.execute(DEAD_LETTER, rows)

    async def open_failures(self, limit: int) -> Sequence[Row[Any]]:
        """Up to ``limit`` open failures joined with their pending events, oldest first."""
        return (await self.executor.execute(OPEN_FAILURES, {"limit": limit})).all()

    async def retrying_failures(self, limit: int) -> Sequence[Row[Any]]:
        """The log-tailing relay's retrying events, latest failure first: (id, type, aggregate
        id, attempts, last error, next attempt, updated)."""
        return (await self.executor.execute(RETRYING_FAILURES, {"limit": limit})).all()

    # -- operating ---------------------------------------------------------------------------

    async def count_by_status(self) -> dict[str, int]:
        """Events per status, every status present (zero when none)."""
        grouped = await self.executor.execute(select(c.status, func.count()).group_by(c.status))
        counts = {status.value: 0 for status in EventStatus}
        counts.update({status: int(n) for status, n in grouped.all()})
        return counts

    async def oldest_pending_at(self) -> datetime | None:
        oldest = (
            await self.executor.execute(
                select(func.min(c.created_at)).where(c.status == EventStatus.PENDING.value)
            )
        ).scalar_one_or_none()
        return _aware(oldest)

    async def backlog(self, cap: int) -> Backlog:
        """Pending and failed counts (up to ``cap`` each) and the oldest pending event's time,
        in one statement on the ``(status, created_at)`` index: its cost is bounded by ``cap``,
        however many events the outbox holds."""
        oldest = select(func.min(c.created_at)).where(c.status == EventStatus.PENDING.value)
        statement = select(
            _capped_count(EventStatus.PENDING.value, cap),
            _capped_count(EventStatus.FAILED.value, cap),
            oldest.scalar_subquery(),
        )
        pending, failed, first = (await self.executor.execute(statement)).one()
        return Backlog(int(pending), int(failed), _aware(first))

    async def oldest_pending_by_partition(self, partitions: int, cap: int) -> dict[int, datetime]:
        """PostgreSQL: when the oldest pending event of each partition was written (partitions
        with nothing pending are absent), looking at no more than ``cap`` pending events."""
        rows = await self.executor.execute(
            OLDEST_PENDING_BY_PARTITION, {"partitions": partitions, "cap": cap}
        )
        return {int(part): moment for part, first in rows if (moment := _aware(first))}

    async def newest_published_at(self) -> datetime | None:
        """When a relay last marked an event published (None: never)."""
        return _aware(
            (await self.executor.execute(select(func.max(c.published_at)))).scalar_one_or_none()
        )

    async def retrying_count(self) -> int:
        """Pending events that have failed at least once and wait for another try."""
        statement = select(func.count()).where(
            c.status == EventStatus.PENDING.value, c.attempts > 0
        )
        return int((await self.executor.execute(statement)).scalar_one())

    async def recent_failures(self, limit: int) -> list[EventRow]:
        """Dead-lettered events and pending ones with a recorded error, latest change first."""
        failing = (c.status == EventStatus.FAILED.value) | (
            (c.status == EventStatus.PENDING.value) & c.last_error.is_not(None)
        )
        return await self._rows(_listing(failing).order_by(c.updated_at.desc(), c.id).limit(limit))

    async def positions(self) -> dict[str, tuple[str, str, int, str]]:
        """Every event: (aggregate type, aggregate id, sequence, status), for checks that compare
        the outbox with what a broker holds."""
        rows = await self.executor.execute(
            select(c.id, c.aggregate_type, c.aggregate_id, c.sequence, c.status)
        )
        return {str(i): (str(t), str(a), int(n), str(s)) for i, t, a, n, s in rows.all()}

    @staticmethod
    def marks(statements: Sequence[str]) -> int:
        """How many of ``statements`` (SQL as a statement counter saw it) update event rows:
        the writes a relay pays per published event, which the lab counts.

        Only statements that are an UPDATE of the events count. An ordered relay's claim that
        follows a full batch of at most 50 events carries that batch's marks in a CTE, and the
        text alone cannot tell it from a claim that marks nothing, so it is not counted: count
        a pass of one batch (a batch size above the events waiting) for an exact figure."""
        return sum(1 for s in statements if s.lstrip().upper().startswith("UPDATE DOMAIN_EVENTS"))

    async def existing_ids(self, event_ids: Sequence[str]) -> set[str]:
        found = await self.executor.execute(select(c.id).where(c.id.in_(list(event_ids))))
        return set(found.scalars())

    async def replay(self, event_ids: Sequence[str] | None, now: datetime) -> int:
        """Back to ``pending`` with a fresh attempt count: the given ids, or every dead-lettered
        event when ``event_ids`` is None. Returns how many rows changed."""
        where = (
            c.status == EventStatus.FAILED.value if event_ids is None else c.id.in_(list(event_ids))
        )
        result = await self.executor.execute(
            update(events)
            .where(where)
            .values(
                status=EventStatus.PENDING.value,
                attempts=0,
                next_attempt_at=None,
                published_at=None,
                updated_at=now,
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def count_published_before(self, cutoff: datetime) -> int:
        """How many events ``purge_published_page`` would delete, page after page."""
        statement = select(func.count()).where(
            c.status == EventStatus.PUBLISHED.value, c.published_at < cutoff
        )
        return int((await self.executor.execute(statement)).scalar_one())

    async def purge_published_page(self, cutoff: datetime, page_size: int) -> int:
        """Delete up to ``page_size`` events published before ``cutoff``; returns how many."""
        page = (
            select(c.id)
            .where(c.status == EventStatus.PUBLISHED.value, c.published_at < cutoff)
            .limit(page_size)
            .scalar_subquery()
        )
        result = await self.executor.execute(delete(events).where(c.id.in_(page)))
        return int(getattr(result, "rowcount", 0) or 0)

    # -- listings ----------------------------------------------------------------------------

    async def get_pending_events(self, limit: int = 100) -> list[EventRow]:
        """Pending events in the order the relay publishes them (sequence)."""
        return await self._rows(
            _listing(c.status == EventStatus.PENDING.value).order_by(c.sequence).limit(limit)
        )

    async def published(self, limit: int) -> list[EventRow]:
        """The most recently published events first."""
        statement = _listing(c.status == EventStatus.PUBLISHED.value)
        return await self._rows(
            statement.order_by(c.published_at.desc(), c.sequence.desc()).limit(limit)
        )

    async def failed(self, limit: int) -> list[EventRow]:
        """Dead-lettered events, the latest to give up first."""
        statement = _listing(c.status == EventStatus.FAILED.value)
        return await self._rows(statement.order_by(c.updated_at.desc()).limit(limit))

    async def for_aggregate(
        self, aggregate_type: str, aggregate_id: str, event_type: str
    ) -> EventRow | None:
        """The first event of ``event_type`` recorded for one aggregate."""
        statement = _listing(
            (c.aggregate_type == aggregate_type)
            & (c.aggregate_id == aggregate_id)
            & (c.event_type == event_type)
        )
        found = await self._rows(statement.order_by(c.sequence).limit(1))
        return found[0] if found else None

    async def aggregate_types(self) -> list[str]:
        """The aggregate types the outbox holds events for, sorted."""
        found = await self.executor.execute(select(c.aggregate_type).distinct())
        return sorted(found.scalars())

    async def _rows(self, statement: Select[Any]) -> list[EventRow]:
        return [_event_row(row) for row in (await self.executor.execute(statement)).all()]

    def _quoted(self, name: str) -> str:
        if isinstance(self.executor, AsyncConnection):
            return self.executor.dialect.identifier_preparer.quote(name)
        return self.executor.get_bind().dialect.identifier_preparer.quote(name)

    def _dialect(self) -> str:
        if isinstance(self.executor, AsyncConnection):
            return self.executor.dialect.name
        return self.executor.get_bind().dialect.name


def _listing(where: ColumnElement[bool]) -> Select[Any]:
    return select(*_ROW_COLUMNS).where(where)


def _aware(moment: datetime | str | None) -> datetime | None:
    """A UTC datetime from what ``min(created_at)`` returns (SQLite hands back naive text)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=utcnow().tzinfo)
    return moment


def _messages(rows: Sequence[Any]) -> list[OutboxMessage]:
    """Claimed rows (id, type, aggregate type and id, created_at, payload text, sequence,
    attempts, trace context) as messages to publish."""
    return [
        OutboxMessage(
            id=row[0],
            type=row[1],
            aggregate_type=row[2],
            aggregate_id=row[3],
            occurred_at=row[4],
            payload_json=row[5],
            sequence=row[6],
            attempts=row[7],
            trace_context=tracing.carrier_from(orjson.loads(row[8])) if row[8] else None,
        )
        for row in rows
    ]
