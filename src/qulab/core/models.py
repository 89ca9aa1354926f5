"""The core's tables: the outbox (``domain_events``), the ordered relays' leases and the inbox.

They live on the core's own ``MetaData`` (``metadata``), apart from any application's models, so
an application's Alembic environment lists both (``run_environment([Base.metadata,
qulab.core.models.metadata])``) and its first migration creates these tables with
``qulab.core.schema.create_core_tables()``. The helpers here (UTC timestamps, string ids) are
what an application's models may share.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Identity,
    Index,
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from qulab.core.ids import new_id


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that always hands back aware UTC datetimes.

    SQLite stores no offset, so values are normalised to UTC on the way in and marked UTC on the
    way out; PostgreSQL's ``timestamptz`` already round-trips them.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; QuLab stores timezone-aware UTC only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class CoreBase(AsyncAttrs, DeclarativeBase):
    """The declarative base of the core's own tables (not of an application's)."""


metadata = CoreBase.metadata
"""The core's tables, for an application's Alembic ``target_metadata`` beside its own."""


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class EventStatus(StrEnum):
    PENDING = "pending"
    PUBLISHED = "published"
    FAILED = "failed"


class DomainEvent(CoreBase, TimestampMixin):
    __tablename__ = "domain_events"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    event_type: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    aggregate_type: Mapped[str] = mapped_column(String(100), nullable=False)
    aggregate_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    status: Mapped[str] = mapped_column(String(20), default=EventStatus.PENDING.value)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    # Outbox bookkeeping (revision 0002). ``sequence`` orders events by insertion: an identity
    # column on PostgreSQL, assigned by an insert trigger on SQLite (see the migration).
    sequence: Mapped[int] = mapped_column(BigInteger, Identity(), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The writer's W3C trace context (revision 0007), JSON: {"traceparent": …, "tracestate": …};
    # NULL when the writer was not tracing.
    trace_context: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_events_status_created", "status", "created_at"),
        Index("ix_domain_events_sequence", "sequence", unique=True),
        # The relay's claim: due pending events in sequence order, an index scan on this.
        Index(
            "ix_events_pending_sequence",
            "sequence",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        # Which aggregates a retrying event holds back: pending events waiting for a retry.
        Index(
            "ix_events_retrying_aggregate",
            "aggregate_id",
            postgresql_where=text("status = 'pending' AND next_attempt_at IS NOT NULL"),
            sqlite_where=text("status = 'pending' AND next_attempt_at IS NOT NULL"),
        ),
    )

    def __repr__(self) -> str:
        return f"<DomainEvent id={self.id!r} type={self.event_type!r} status={self.status!r}>"


# The writing transaction's id (revision 0004): a server default, PostgreSQL's
# ``pg_current_xact_id()`` as a 64-bit number; 0 on SQLite. The ordered relay publishes in
# (txid, sequence) order and only rows older than every open transaction: the commit fence.
# A column of the table but not of the ORM class (added after mapping): the server sets it and
# only the outbox repository reads it, so ORM inserts leave it to its default.
_events_table = cast(Table, DomainEvent.__table__)
_events_table.append_column(Column("txid", BigInteger, nullable=False))
# The ordered relay's claim walks pending events in (txid, sequence) order.
Index(
    "ix_events_pending_txid",
    _events_table.c.txid,
    _events_table.c.sequence,
    postgresql_where=text("status = 'pending'"),
    sqlite_where=text("status = 'pending'"),
)


class OutboxRelay(CoreBase):
    """A running ordered relay (revision 0004): it renews ``expires_at`` while it lives; the
    live ones share the partitions fairly."""

    __tablename__ = "outbox_relays"

    relay_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(String(200))
    partitions: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutboxLease(CoreBase):
    """One outbox partition and the relay that holds it until ``expires_at`` (revision 0004)."""

    __tablename__ = "outbox_leases"

    partition: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    owner: Mapped[str | None] = mapped_column(String(64))
    acquired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class InboxEntry(CoreBase):
    """One event a consumer has applied. The primary key (consumer, event id) is the
    exactly-once guard: the consumer's effects and this row commit together, so a redelivered
    event finds its row and changes nothing but ``deliveries``."""

    __tablename__ = "inbox"

    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(100))
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deliveries: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    def __repr__(self) -> str:
        return f"<InboxEntry consumer={self.consumer!r} event_id={self.event_id!r}>"


class OutboxWalSlot(CoreBase):
    """A log-tailing relay's replication slot (revision 0008): how many events it has
    published (its rows are deleted once the broker confirmed them, so the count lives here,
    updated once per batch) and whether the events written before the slot existed have been
    sent (``drained``)."""

    __tablename__ = "outbox_wal_slots"

    slot: Mapped[str] = mapped_column(String(63), primary_key=True)
    published: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    drained: Mapped[bool] = mapped_column(default=False)
    confirmed_lsn: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OutboxFailure(CoreBase):
    """An event the log-tailing relay could not publish yet (revision 0008): ``retrying``
    until its next attempt, ``held`` behind an earlier event of its aggregate, ``failed`` once
    dead-lettered. The slot has moved past it; this row (and the event's, kept until it is
    published) is what remains to do."""

    __tablename__ = "outbox_failures"

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    aggregate_id: Mapped[str] = mapped_column(String(36), index=True)
    sequence: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
