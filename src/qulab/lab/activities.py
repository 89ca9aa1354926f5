"""The hands-on results in the learner's progress: each Apply exercise answered by writing and
the Analyze prediction, kept in ``lab_progress`` beside the knowledge checks.

An activity is one row per (learner, page, activity id), like a question: every graded attempt
counts, and one graded right stays right. The ids (``apply.<exercise>``,
``analyze.prediction``) never collide with the knowledge checks', so neither count includes
the other. A prediction is right when all of its answers are.
"""

from __future__ import annotations

from dataclasses import dataclass

from qulab.core import UnitOfWork, UnitOfWorkFactory
from qulab.lab.checks import LOCAL_LEARNER
from qulab.lab.exercises import EXERCISES
from qulab.lab.progress import ProgressRepository

APPLY_PAGE = "repository"
ANALYZE_PAGE = "caching"
PREDICTION_ID = "analyze.prediction"


def apply_id(exercise_key: str) -> str:
    """The activity id of the written exercise ``exercise_key``."""
    return f"apply.{exercise_key}"


APPLY_IDS: tuple[str, ...] = tuple(apply_id(exercise.key) for exercise in EXERCISES)
ANALYZE_IDS: tuple[str, ...] = (PREDICTION_ID,)


@dataclass(frozen=True)
class ActivityProgress:
    """How many written exercises and predictions are done (graded right), of how many."""

    applied: int
    analyzed: int

    @property
    def apply_total(self) -> int:
        return len(APPLY_IDS)

    @property
    def analyze_total(self) -> int:
        return len(ANALYZE_IDS)

    @property
    def done(self) -> int:
        return self.applied + self.analyzed

    @property
    def total(self) -> int:
        return self.apply_total + self.analyze_total


async def record_activity(
    uow: UnitOfWorkFactory[UnitOfWork],
    page: str,
    activity_id: str,
    right: bool,
    learner: str = LOCAL_LEARNER,
) -> int:
    """Count one graded attempt at an activity; returns the attempts so far."""
    if activity_id not in (*APPLY_IDS, *ANALYZE_IDS):
        raise KeyError(f"no activity {activity_id!r}")
    async with uow() as unit:
        row = await ProgressRepository(unit.session).record(learner, page, activity_id, right)
        attempts = row.attempts
        await unit.commit()
    return attempts


async def activity_progress(
    uow: UnitOfWorkFactory[UnitOfWork], learner: str = LOCAL_LEARNER
) -> ActivityProgress:
    """The activities ``learner`` has done (graded right at least once)."""
    async with uow() as unit:
        rows = await ProgressRepository(unit.session).list(learner)
        done = {(row.page, row.question_id) for row in rows if row.correct}
    return ActivityProgress(
        applied=sum((APPLY_PAGE, activity) in done for activity in APPLY_IDS),
        analyzed=sum((ANALYZE_PAGE, activity) in done for activity in ANALYZE_IDS),
    )
