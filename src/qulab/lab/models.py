"""The lab's own table: what each learner has answered in the knowledge checks.

It lives beside the platform's tables in the same database but belongs to the lab: its own
metadata, its own migrations (``qulab.lab.migrate``) and its own version table, so the
platform's schema knows nothing of it and dropping the platform's tables keeps a learner's
progress.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from qulab.core import UTCDateTime, utcnow


class LabBase(DeclarativeBase):
    pass


class LabProgress(LabBase):
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
