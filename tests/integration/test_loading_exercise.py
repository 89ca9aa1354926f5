"""The Apply exercise: loading strategies per relationship, counted on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from qulab.core.db import Database
from qulab.core.errors import InvalidInput
from qulab.lab.loading import (
    APPLY_MARKER,
    JOINED,
    LAZY,
    RAISE,
    SELECTIN,
    SUBQUERY,
    LoadingChoice,
    ensure_exercise_rows,
    run_exercise,
)
from qulab.platform.services import seeding

USERS = 6


async def test_selectinload_on_both_meets_a_budget_of_three(db: Database) -> None:
    assert await ensure_exercise_rows(db, USERS) is True
    run = await run_exercise(db, LoadingChoice(SELECTIN, SELECTIN), USERS, repeats=3)
    assert run.error is None
    assert run.statement_count == 3
    assert run.within_budget
    assert len(run.times_s) == 3
    assert run.spread_s[0] <= run.median_s <= run.spread_s[1]
    assert run.users == USERS
    assert {row.scores for row in run.rows} == {3}
    assert {row.latest_assessment for row in run.rows} == {"hr (in_progress)"}


async def test_per_row_lazy_loads_exceed_the_budget_with_one_statement_per_user(
    db: Database,
) -> None:
    await ensure_exercise_rows(db, USERS)
    run = await run_exercise(db, LoadingChoice(LAZY, SELECTIN), USERS, repeats=2)
    assert run.statement_count == 1 + USERS + 1
    assert not run.within_budget
    both = await run_exercise(db, LoadingChoice(LAZY, LAZY), USERS, repeats=1)
    assert both.statement_count == 1 + 2 * USERS


async def test_joined_and_subquery_loads_load_the_same_page(db: Database) -> None:
    await ensure_exercise_rows(db, USERS)
    selectin = await run_exercise(db, LoadingChoice(SELECTIN, SELECTIN), USERS, repeats=1)
    joined = await run_exercise(db, LoadingChoice(JOINED, JOINED), USERS, repeats=1)
    subquery = await run_exercise(db, LoadingChoice(SUBQUERY, SUBQUERY), USERS, repeats=1)
    assert joined.statement_count == 1
    assert subquery.statement_count == 3
    assert joined.rows == selectin.rows == subquery.rows


async def test_raise_on_a_needed_relationship_returns_its_message(db: Database) -> None:
    await ensure_exercise_rows(db, USERS)
    run = await run_exercise(db, LoadingChoice(SELECTIN, RAISE), USERS, repeats=1)
    assert run.error is not None
    assert "User.assessments" in run.error and "lazy='raise'" in run.error
    assert not run.within_budget
    assert run.rows == ()


async def test_exercise_rows_are_written_once_and_removable_by_marker(db: Database) -> None:
    assert await ensure_exercise_rows(db, USERS) is True
    assert await ensure_exercise_rows(db, USERS) is False
    assert await seeding.clear_seeded(db, APPLY_MARKER) == USERS
    assert await seeding.count_seeded(db, APPLY_MARKER) == 0


def test_an_unknown_strategy_is_rejected() -> None:
    with pytest.raises(InvalidInput, match="unknown loading strategy"):
        LoadingChoice("eagerly", SELECTIN)
