"""The knowledge-check bank: every page has 3 to 5 questions, measured questions use the
learner's numbers, and grading is by the option's text."""

from __future__ import annotations

import pytest

from qulab.entrypoints.app.navigation import PAGES as APP_PAGES
from qulab.lab import checks


def test_every_page_of_the_app_has_three_to_five_questions_with_distinct_ids() -> None:
    assert tuple(spec.module for spec in APP_PAGES) == checks.PAGES
    ids = []
    for page in checks.PAGES:
        asked = checks.questions(page)
        assert 3 <= len(asked) <= 5, page
        assert all(q.page == page and q.answer in q.options for q in asked)
        ids += [q.id for q in asked]
    assert len(ids) == len(set(ids)) == 32


def test_the_per_row_question_uses_the_learners_run() -> None:
    measured = {
        "nplusone.users": 50,
        "nplusone.per_row_statements": 51,
        "nplusone.eager_statements": 2,
    }
    growth, eager, *_ = checks.questions("repository", measured)
    assert growth.measured
    assert "N = 50 users with 51 statements" in growth.prompt
    assert "N = 200" in growth.prompt
    assert growth.answer == "201"
    assert checks.grade(growth, "201") and not checks.grade(growth, "204")
    assert eager.measured and eager.answer == "2" and "N = 500" in eager.prompt


def test_without_measurements_the_same_question_is_asked_in_its_fixed_form() -> None:
    fixed = checks.question("repository", "repository.per_row_growth")
    measured = checks.question(
        "repository",
        "repository.per_row_growth",
        {"nplusone.users": 10, "nplusone.per_row_statements": 11},
    )
    assert not fixed.measured and fixed.answer == "1 + N"
    assert measured.measured and measured.id == fixed.id


@pytest.mark.parametrize(
    ("measured", "answer"),
    [
        ({"cache.fetches": 4, "cache.hits": 3}, "75%"),
        ({"cache.fetches": 1, "cache.hits": 0}, "0%"),
        ({"cache.fetches": 2, "cache.hits": 2}, "100%"),
    ],
)
def test_the_hit_ratio_question_computes_h_from_the_learners_fetches(
    measured: dict[str, float], answer: str
) -> None:
    asked = checks.question("caching", "caching.hit_ratio", measured)
    assert asked.answer == answer
    assert len(set(asked.options)) == len(asked.options) >= 3


def test_the_pooling_question_answers_with_the_measured_null_pool_connects() -> None:
    asked = checks.question(
        "connectivity",
        "connectivity.null_pool_connects",
        {"pooling.requests": 200, "pooling.pooled_connects": 5, "pooling.null_connects": 200},
    )
    assert asked.measured and asked.answer == "200"
    assert "opened 5 new connections" in asked.prompt


def test_a_question_whose_answer_is_missing_is_refused() -> None:
    with pytest.raises(ValueError, match="not among the options"):
        checks.Question("x", "introduction", "?", ("a", "b"), "c", "")


def test_counts_in_the_prompts_read_in_the_singular_for_one() -> None:
    measured = {
        "nplusone.users": 1,
        "nplusone.per_row_statements": 2,
        "nplusone.eager_statements": 2,
    }
    growth, eager, *_ = checks.questions("repository", measured)
    assert "N = 1 user with 2 statements" in growth.prompt
    assert "N = 1 user with 2 statements" in eager.prompt


def test_the_eager_answer_grows_by_one_statement_per_500_users() -> None:
    measured = {
        "nplusone.users": 500,
        "nplusone.per_row_statements": 501,
        "nplusone.eager_statements": 2,
    }
    eager = checks.question("repository", "repository.eager_constant", measured)
    assert eager.answer == "11" and "N = 5000" in eager.prompt  # 1 + 5000 / 500
    assert "2" in eager.options  # the old, wrong answer is a distractor now
