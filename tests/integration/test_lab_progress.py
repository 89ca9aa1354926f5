"""Knowledge-check progress in ``lab_progress``: attempts counted, a right answer kept, the
summary per page, and a reset of the embedded database that keeps it unless asked not to."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from qulab.core.db import Database
from qulab.lab import checks, run_db_setup_and_create_user
from qulab.lab.models import LabProgress
from qulab.lab.reset import reset_database
from qulab.platform.uow import uow_factory


async def _rows(db: Database) -> list[tuple[str, str, str, bool, int]]:
    async with db.session() as session:
        rows = await session.scalars(select(LabProgress).order_by(LabProgress.question_id))
        return [(r.learner, r.page, r.question_id, r.correct, r.attempts) for r in rows]


async def test_a_wrong_then_right_answer_counts_two_attempts_and_stays_right(db: Database) -> None:
    asked = checks.question("introduction", "introduction.one_to_many")
    wrong = next(option for option in asked.options if option != asked.answer)

    first = await checks.answer(uow_factory(db), asked, wrong)
    assert (first.correct, first.attempts) == (False, 1)
    assert first.explanation == asked.explanation
    assert await _rows(db) == [("local", "introduction", asked.id, False, 1)]

    second = await checks.answer(uow_factory(db), asked, asked.answer)
    third = await checks.answer(uow_factory(db), asked, wrong)
    assert (second.correct, third.correct, third.attempts) == (True, False, 3)
    assert await _rows(db) == [("local", "introduction", asked.id, True, 3)]


async def test_progress_sums_right_answers_per_page_and_per_learner(db: Database) -> None:
    for qid in ("introduction.one_to_many", "introduction.stream_type"):
        asked = checks.question("introduction", qid)
        await checks.answer(uow_factory(db), asked, asked.answer)
    caching = checks.question("caching", "caching.stored_as")
    await checks.answer(uow_factory(db), caching, "The SQL text")
    await checks.answer(uow_factory(db), caching, caching.answer, learner="someone-else")

    mine = await checks.progress(uow_factory(db))
    assert (mine.correct, mine.total) == (2, 32)
    assert mine.page("introduction").correct == 2
    assert mine.page("caching").correct == 0
    theirs = await checks.progress(uow_factory(db), "someone-else")
    assert (theirs.correct, theirs.page("caching").correct) == (1, 1)

    assert await checks.clear_progress(uow_factory(db)) == 3
    assert (await checks.progress(uow_factory(db))).correct == 0
    assert (await checks.progress(uow_factory(db), "someone-else")).correct == 1


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_resetting_the_embedded_database_keeps_progress_unless_asked(db: Database) -> None:
    await run_db_setup_and_create_user(db)
    asked = checks.question("eventing", "eventing.delivery")
    await checks.answer(uow_factory(db), asked, "Exactly once")
    await checks.answer(uow_factory(db), asked, asked.answer)

    await reset_database(db)
    assert await _rows(db) == [("local", "eventing", asked.id, True, 2)]

    await reset_database(db, keep_progress=False)
    assert await _rows(db) == []
