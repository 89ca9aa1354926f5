"""The rows the Apply exercises run on: seeded once under their marker, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import func, select

from qulab.core.db import Database
from qulab.lab.exercise_rows import (
    APPLY_ASSESSMENTS,
    APPLY_MARKER,
    APPLY_SCORES,
    ensure_exercise_rows,
)
from qulab.platform.models import AIRScore, Assessment, User
from qulab.platform.services import seeding

USERS = 6


async def _counts(db: Database) -> tuple[int, int, int]:
    users = select(User.id).where(seeding.seeded_users(APPLY_MARKER))
    async with db.session() as session:
        scores = await session.scalar(
            select(func.count(AIRScore.id)).where(AIRScore.user_id.in_(users))
        )
        assessments = await session.scalar(
            select(func.count(Assessment.id)).where(Assessment.user_id.in_(users))
        )
        in_progress = await session.scalar(
            select(func.count(Assessment.id)).where(
                Assessment.user_id.in_(users), Assessment.status == "in_progress"
            )
        )
    return int(scores or 0), int(assessments or 0), int(in_progress or 0)


async def test_exercise_rows_are_written_once_and_removable_by_marker(db: Database) -> None:
    assert await ensure_exercise_rows(db, USERS) is True
    assert await _counts(db) == (USERS * APPLY_SCORES, USERS * APPLY_ASSESSMENTS, USERS)
    assert await ensure_exercise_rows(db, USERS) is False
    assert await seeding.clear_seeded(db, APPLY_MARKER) == USERS
    assert await seeding.count_seeded(db, APPLY_MARKER) == 0
