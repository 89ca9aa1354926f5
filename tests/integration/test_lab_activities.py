"""Apply and Analyze in ``lab_progress``: every graded attempt counted, one graded right kept,
the activity summary apart from the knowledge checks' (which it never changes)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from qulab.core.db import Database
from qulab.lab import checks
from qulab.lab.activities import (
    ANALYZE_PAGE,
    APPLY_PAGE,
    PREDICTION_ID,
    activity_progress,
    apply_id,
    record_activity,
)
from qulab.lab.exercises import EAGER_SCORES, EXERCISES
from qulab.lab.models import LabProgress
from qulab.platform.uow import uow_factory


async def _rows(db: Database) -> list[tuple[str, str, bool, int]]:
    async with db.session() as session:
        rows = await session.scalars(select(LabProgress).order_by(LabProgress.question_id))
        return [(r.page, r.question_id, r.correct, r.attempts) for r in rows]


async def test_a_written_answer_counts_once_graded_right_and_stays_done(db: Database) -> None:
    eager = apply_id(EAGER_SCORES.key)
    assert await record_activity(uow_factory(db), APPLY_PAGE, eager, False) == 1
    assert (await activity_progress(uow_factory(db))).applied == 0
    assert await record_activity(uow_factory(db), APPLY_PAGE, eager, True) == 2
    assert await record_activity(uow_factory(db), APPLY_PAGE, eager, False) == 3
    done = await activity_progress(uow_factory(db))
    assert (done.applied, done.apply_total, done.analyzed, done.done) == (1, len(EXERCISES), 0, 1)
    assert await _rows(db) == [("repository", "apply.eager-scores", True, 3)]
    assert (await checks.progress(uow_factory(db))).correct == 0


async def test_a_prediction_counts_when_graded_right_for_its_learner_only(db: Database) -> None:
    await record_activity(uow_factory(db), ANALYZE_PAGE, PREDICTION_ID, False)
    assert (await activity_progress(uow_factory(db))).analyzed == 0
    await record_activity(uow_factory(db), ANALYZE_PAGE, PREDICTION_ID, True)
    mine = await activity_progress(uow_factory(db))
    assert (mine.analyzed, mine.analyze_total, mine.total) == (1, 1, len(EXERCISES) + 1)
    assert (await activity_progress(uow_factory(db), "someone-else")).done == 0


async def test_forgetting_progress_forgets_the_activities_too(db: Database) -> None:
    await record_activity(uow_factory(db), ANALYZE_PAGE, PREDICTION_ID, True)
    assert await checks.clear_progress(uow_factory(db)) == 1
    assert (await activity_progress(uow_factory(db))).done == 0


async def test_an_unknown_activity_is_refused_and_nothing_is_written(db: Database) -> None:
    with pytest.raises(KeyError, match="no activity"):
        await record_activity(uow_factory(db), APPLY_PAGE, "apply.nothing", True)
    assert await _rows(db) == []
