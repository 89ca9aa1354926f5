"""The platform's ORM models: the seed schema, kept exactly, with timezone-aware UTC timestamps.

The outbox's ``domain_events`` and the inbox are the core's tables (``qulab.core.models``);
``METADATA`` lists both sets, in the order they are created.

Relationships use ``lazy="raise_on_sql"``: touching a collection that was not loaded explicitly
raises instead of quietly running one query per row.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
)
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from qulab.core.ids import new_id
from qulab.core.models import TimestampMixin, UTCDateTime, metadata, utcnow


class Base(AsyncAttrs, DeclarativeBase):
    pass


METADATA: tuple[MetaData, ...] = (metadata, Base.metadata)
"""Every table of the platform's database: the core's (outbox, leases, inbox) and its own."""


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
