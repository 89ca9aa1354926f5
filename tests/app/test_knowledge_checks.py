"""The knowledge checks at the end of every page: a wrong answer explains, a right one counts,
both are stored in ``lab_progress``, and the sidebar's progress survives a server restart."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from qulab.core.db import Database
from qulab.entrypoints.app.checks_view import CHECK_LABEL
from qulab.entrypoints.app.navigation import (
    CACHING,
    CONNECTIVITY,
    DESIGN,
    PAGES,
    REPOSITORY,
    PageSpec,
)
from qulab.entrypoints.app.sections.connectivity import SETUP_LABEL
from qulab.lab import checks
from qulab.lab.models import LabProgress
from qulab.lab.step_progress import STEP_PREFIX
from tests.app.helpers import go_to, no_exception, open_runtime, query, restart_server, texts


def _initialised() -> AppTest:
    at = go_to(open_runtime(), CONNECTIVITY)
    next(b for b in at.button if b.label == SETUP_LABEL).click().run()
    no_exception(at)
    return at


def _rows(url: str) -> list[tuple[str, str, bool, int]]:
    """The knowledge-check rows of lab_progress (not the steps the learner has done)."""

    async def _read(db: Database) -> list[tuple[str, str, bool, int]]:
        async with db.session() as session:
            rows = await session.scalars(
                select(LabProgress)
                .where(LabProgress.question_id.not_like(STEP_PREFIX + "%"))
                .order_by(LabProgress.question_id)
            )
            return [(r.page, r.question_id, r.correct, r.attempts) for r in rows]

    return list(query(url, _read))


def _answer(at: AppTest, question_id: str, choice: str) -> AppTest:
    at.radio(key=f"check:{question_id}").set_value(choice).run()
    button = at.button(key=f"check_button:{question_id}")
    assert button.label == CHECK_LABEL
    button.click().run()
    no_exception(at)
    return at


def _progress_line(at: AppTest) -> str:
    return next(line for line in texts(at.sidebar.markdown) if "Knowledge checks" in line)


@pytest.mark.parametrize("page", PAGES, ids=[spec.module for spec in PAGES])
def test_each_page_explains_a_wrong_answer_and_counts_a_right_one(
    sqlite_url: str, page: PageSpec
) -> None:
    at = go_to(_initialised(), page)
    no_exception(at)
    assert "Knowledge check" in [sub.value for sub in at.subheader]
    first = checks.questions(page.module)[0]
    wrong = next(option for option in first.options if option != first.answer)

    _answer(at, first.id, wrong)
    assert any(first.explanation in error and "Not quite" in error for error in texts(at.error))
    assert _rows(sqlite_url) == [(page.module, first.id, False, 1)]
    assert _progress_line(at) == "**Knowledge checks:** 0/32"

    _answer(at, first.id, first.answer)
    assert any(first.explanation in success for success in texts(at.success))
    assert _rows(sqlite_url) == [(page.module, first.id, True, 2)]
    assert _progress_line(at) == "**Knowledge checks:** 1/32"
    assert any("1 of" in caption for caption in texts(at.caption))


def test_progress_is_stored_per_page_and_survives_a_restart(lab_url: str) -> None:
    at = go_to(_initialised(), PAGES[0])
    for question in checks.questions("introduction")[:2]:
        _answer(at, question.id, question.answer)
    assert _progress_line(at) == "**Knowledge checks:** 2/32"
    assert "- Introduction: 2/4" in "\n".join(texts(at.sidebar.markdown))

    restart_server()
    again = open_runtime()
    no_exception(again)
    assert _progress_line(again) == "**Knowledge checks:** 2/32"


def test_before_the_database_is_initialised_answers_are_graded_but_not_kept(
    sqlite_url: str,
) -> None:
    at = open_runtime()
    first = checks.questions("introduction")[0]
    assert any("not kept" in caption for caption in texts(at.caption))
    _answer(at, first.id, first.answer)
    assert any(first.explanation in success for success in texts(at.success))
    assert not any("Knowledge checks" in line for line in texts(at.sidebar.markdown))


def test_the_n_plus_one_question_uses_the_learners_own_run(sqlite_url: str) -> None:
    at = go_to(_initialised(), REPOSITORY)
    at.number_input(key="nplusone_n").set_value(8).run()
    at.button(key="compare_all").click().run()
    no_exception(at)
    growth = at.radio(key="check:repository.per_row_growth")
    prompt = next(line for line in texts(at.markdown) if "Your per-row run" in line)
    assert "N = 8 users with 9 statements" in prompt and "N = 32" in prompt
    assert "33" in growth.options
    _answer(at, "repository.per_row_growth", "33")
    assert ("repository", "repository.per_row_growth", True, 1) in _rows(sqlite_url)


def test_the_hit_ratio_question_uses_the_learners_fetches(sqlite_url: str) -> None:
    at = go_to(_initialised(), CACHING)
    at.button(key="fetch_user_cached").click().run()  # a burst of 20: one miss, then hits
    no_exception(at)
    prompt = next(line for line in texts(at.markdown) if "cached fetches on this page" in line)
    assert "You made 20 cached fetches on this page and 19 of them were hits" in prompt
    _answer(at, "caching.hit_ratio", "95%")
    assert ("caching", "caching.hit_ratio", True, 1) in _rows(sqlite_url)


def _reset(at: AppTest, *, forget: bool) -> AppTest:
    at = go_to(at, CONNECTIVITY)
    if forget:
        at.checkbox(key="reset_forget_progress").check().run()
    at.checkbox(key="reset_confirmed").check().run()
    at.button(key="reset_button").click().run()
    no_exception(at)
    return at


def test_resetting_the_database_keeps_the_progress_unless_asked(sqlite_url: str) -> None:
    at = go_to(_initialised(), PAGES[0])
    first = checks.questions("introduction")[0]
    _answer(at, first.id, first.answer)

    at = _reset(at, forget=False)
    assert _progress_line(at) == "**Knowledge checks:** 1/32"
    assert _rows(sqlite_url) == [("introduction", first.id, True, 1)]

    at = _reset(at, forget=True)
    assert _progress_line(at) == "**Knowledge checks:** 0/32"
    assert _rows(sqlite_url) == []


def test_on_sqlite_the_create_page_grades_the_relays_taking_turns_right(sqlite_url: str) -> None:
    at = go_to(_initialised(), DESIGN)
    prompt = next(line for line in texts(at.markdown) if "without any row lock" in line)
    assert "On your database (SQLite)" in prompt
    _answer(at, "design.no_lock", "Nothing: the relays take turns")
    assert ("design", "design.no_lock", True, 1) in _rows(sqlite_url)
