"""The rows the Apply exercises run on: users seeded under APPLY_MARKER, each with
APPLY_SCORES scores and APPLY_ASSESSMENTS assessments (the newest one in progress), so a
learner's answer and the model answer read the same page of users (see exercises.py)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import ColumnElement, delete, func, insert, select

from qulab.core import Database, new_id, utcnow
from qulab.platform import (
    Assessment,
    AssessmentStatus,
    PlatformUnitOfWork,
    User,
    count_seeded,
    ensure_seeded,
    seeded_users,
)

APPLY_MARKER = "labapply"
APPLY_SCORES = 3
APPLY_ASSESSMENTS = 2


async def _assessment_count(db: Database, where: ColumnElement[bool]) -> int:
    async with db.session() as session:
        statement = select(func.count(Assessment.id)).where(
            Assessment.user_id.in_(select(User.id).where(where))
        )
        return int((await session.execute(statement)).scalar_one())


async def ensure_exercise_rows(db: Database, users: int) -> bool:
    """At least ``users`` users under APPLY_MARKER, each with APPLY_SCORES scores and
    APPLY_ASSESSMENTS assessments (the newest one in progress). Returns whether it wrote."""
    where = seeded_users(APPLY_MARKER)
    wrote = await ensure_seeded(db, users, APPLY_SCORES, marker=APPLY_MARKER)
    present = await count_seeded(db, APPLY_MARKER)
    if not wrote and await _assessment_count(db, where) == present * APPLY_ASSESSMENTS:
        return False
    async with PlatformUnitOfWork(db) as uow:
        ids = (await uow.session.execute(select(User.id).where(where))).scalars().all()
        await uow.session.execute(
            delete(Assessment).where(Assessment.user_id.in_(select(User.id).where(where)))
        )
        rows = []
        now = utcnow()
        for user_id in ids:
            for index, status in enumerate(
                (AssessmentStatus.COMPLETED.value, AssessmentStatus.IN_PROGRESS.value)
            ):
                rows.append(
                    {
                        "id": new_id(),
                        "user_id": user_id,
                        "status": status,
                        "component": ("vr", "hr")[index],
                        "current_ability": 0.0,
                        "items_administered": 0,
                        "created_at": now - timedelta(days=1 - index),
                        "updated_at": now,
                    }
                )
        if rows:
            # New rows of seeded users: nothing is cached for them, so no event is recorded.
            await uow.session.execute(insert(Assessment), rows)
        await uow.commit()
    return True
