"""The lab's knowledge-check progress: one row per (learner, page, question), flushed, never
committed (the unit of work commits)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from qulab.core import utcnow
from qulab.lab.models import LabProgress


class ProgressRepository:
    """Answers to the lab's knowledge checks, per learner."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, learner: str, page: str, question_id: str, correct: bool) -> LabProgress:
        """Count one more attempt at a question; once answered correctly it stays correct."""
        row = await self.session.get(LabProgress, (learner, page, question_id))
        if row is None:
            row = LabProgress(
                learner=learner,
                page=page,
                question_id=question_id,
                correct=correct,
                attempts=1,
                updated_at=utcnow(),
            )
            self.session.add(row)
        else:
            row.attempts += 1
            row.correct = row.correct or correct
        await self.session.flush()
        return row

    async def list(self, learner: str) -> Sequence[LabProgress]:
        """Every question ``learner`` has attempted, by page then question."""
        rows = await self.session.scalars(
            select(LabProgress)
            .where(LabProgress.learner == learner)
            .order_by(LabProgress.page, LabProgress.question_id)
        )
        return rows.all()

    async def clear(self, learner: str) -> int:
        """Forget ``learner``'s answers; how many rows went."""
        result = await self.session.execute(
            delete(LabProgress).where(LabProgress.learner == learner)
        )
        await self.session.flush()
        return int(getattr(result, "rowcount", 0) or 0)
