"""The ORM models: the seed schema, kept exactly, with timezone-aware UTC timestamps.

Relationships use ``lazy="raise_on_sql"``: touching a collection that was not loaded explicitly
raises instead of quietly running one query per row.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
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
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


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


class Base(AsyncAttrs, DeclarativeBase):
    pass


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class User(Base, TimestampMixin):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(255), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(255))
    occupation_code: Mapped[str | None] = mapped_column(String(20))
    education_level: Mapped[str | None] = mapped_column(String(50))
    years_experience: Mapped[float | None] = mapped_column(Float)

    # The database deletes a user's assessments and scores (ON DELETE CASCADE); passive_deletes
    # keeps the ORM from loading them first, so deleting a user is one statement.
    assessments: Mapped[list[Assessment]] = relationship(
        back_populates="user",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise_on_sql",
    )
    scores: Mapped[list[AIRScore]] = relationship(
        back_populates="user",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise_on_sql",
    )

    def __repr__(self) -> str:
        return f"<User id={self.id!r} email={self.email!r}>"


class AssessmentStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Assessment(Base, TimestampMixin):
    __tablename__ = "assessments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=AssessmentStatus.IN_PROGRESS.value)
    component: Mapped[str] = mapped_column(String(50))
    current_ability: Mapped[float] = mapped_column(Float, default=0.0)
    items_administered: Mapped[int] = mapped_column(default=0)

    user: Mapped[User] = relationship(back_populates="assessments", lazy="raise_on_sql")

    def __repr__(self) -> str:
        return f"<Assessment id={self.id!r} user_id={self.user_id!r} status={self.status!r}>"


class AIRScore(Base, TimestampMixin):
    __tablename__ = "air_scores"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    occupation_code: Mapped[str] = mapped_column(String(20))

    air_score: Mapped[float] = mapped_column(Float)
    vr_score: Mapped[float] = mapped_column(Float)
    hr_score: Mapped[float] = mapped_column(Float)
    synergy_score: Mapped[float] = mapped_column(Float)

    ci_lower: Mapped[float] = mapped_column(Float)
    ci_upper: Mapped[float] = mapped_column(Float)

    parameter_version: Mapped[str] = mapped_column(String(20))
    calculation_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    user: Mapped[User] = relationship(back_populates="scores", lazy="raise_on_sql")

    def __repr__(self) -> str:
        return f"<AIRScore id={self.id!r} user_id={self.user_id!r} air_score={self.air_score}>"


class EventType(StrEnum):
    SCORE_CALCULATED = "score.calculated"
    ASSESSMENT_COMPLETED = "assessment.completed"
    PATHWAY_RECOMMENDED = "pathway.recommended"
    BATCH_COMPLETED = "batch.completed"
    USER_CREATED = "user.created"
    USER_UPDATED = "user.updated"
    USER_DELETED = "user.deleted"


class EventStatus(StrEnum):
    PENDING = "pending"
    PUBLISHED = "published"
    FAILED = "failed"


class DomainEvent(Base, TimestampMixin):
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


class OutboxRelay(Base):
    """A running ordered relay (revision 0004): it renews ``expires_at`` while it lives; the
    live ones share the partitions fairly."""

    __tablename__ = "outbox_relays"

    relay_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(String(200))
    partitions: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutboxLease(Base):
    """One outbox partition and the relay that holds it until ``expires_at`` (revision 0004)."""

    __tablename__ = "outbox_leases"

    partition: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    owner: Mapped[str | None] = mapped_column(String(64))
    acquired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class InboxEntry(Base):
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


class UserScoreSummary(Base):
    """A projection kept by a consumer from ``score.calculated`` and ``user.deleted``: per user
    the number of scores, their mean and the latest one. A deleted user keeps a tombstone row
    (``deleted``) so that a score event arriving after the deletion cannot bring them back."""

    __tablename__ = "user_score_summary"

    user_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    score_count: Mapped[int] = mapped_column(Integer, default=0)
    score_total: Mapped[float] = mapped_column(Float, default=0.0)
    mean_score: Mapped[float | None] = mapped_column(Float)
    latest_score: Mapped[float | None] = mapped_column(Float)
    latest_score_id: Mapped[str | None] = mapped_column(String(36))
    latest_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_event_id: Mapped[str] = mapped_column(String(36))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"<UserScoreSummary user_id={self.user_id!r} count={self.score_count}>"


class LabProgress(Base):
    """One knowledge-check question as one learner has answered it: how many attempts, and
    whether one of them was right. The primary key (learner, page, question) keeps one row per
    question, updated in place on every answer."""

    __tablename__ = "lab_progress"

    learner: Mapped[str] = mapped_column(String(100), primary_key=True)
    page: Mapped[str] = mapped_column(String(50), primary_key=True)
    question_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    correct: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return (
            f"<LabProgress learner={self.learner!r} page={self.page!r} "
            f"question_id={self.question_id!r} correct={self.correct}>"
        )
