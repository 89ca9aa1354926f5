from __future__ import annotations

import statistics

import pytest

from qulab.core.db import Database, count_statements
from qulab.core.errors import NotFound
from qulab.lab import compare_all_users, compare_single_user, create_sample_airscore
from qulab.platform.services import seeding
from tests.service_calls import create_user

SCORES = 3


@pytest.mark.parametrize("users", [1, 10, 50])
async def test_per_row_runs_one_plus_n_statements_and_eager_runs_two(
    db: Database, users: int
) -> None:
    await seeding.seed(db, users, SCORES, marker="np")

    result = await compare_all_users(db, users, where=seeding.seeded_users("np"))

    assert result.per_row.statement_count == 1 + users
    assert result.per_row.queries_issued == 1 + users
    assert result.eager.statement_count == 2
    assert result.eager.queries_issued == 2
    assert result.per_row.users == result.eager.users == users
    assert result.per_row.scores == result.eager.scores == users * SCORES


async def test_both_strategies_load_identical_users_and_scores(db: Database) -> None:
    await seeding.seed(db, 12, SCORES, marker="np")

    result = await compare_all_users(db, 10, where=seeding.seeded_users("np"))

    assert result.identical
    assert result.per_row.data == result.eager.data
    assert [item.user.id for item in result.per_row.data] == [
        item.user.id for item in result.eager.data
    ]
    assert all(len(item.scores) == SCORES for item in result.eager.data)


async def test_recorded_statements_are_the_user_query_then_one_score_query_per_user(
    db: Database,
) -> None:
    await seeding.seed(db, 4, 1, marker="np")

    result = await compare_all_users(db, 4, where=seeding.seeded_users("np"))

    first, *rest = result.per_row.statements
    assert "FROM users" in first
    assert len(rest) == 4
    assert all("FROM air_scores" in statement for statement in rest)
    assert "FROM users" in result.eager.statements[0]
    assert "FROM air_scores" in result.eager.statements[1]


async def test_filter_keeps_other_users_out_of_both_strategies(db: Database) -> None:
    await create_user(db, email="outsider@example.com", name="Outsider")
    await seeding.seed(db, 3, SCORES, marker="np")

    result = await compare_all_users(db, where=seeding.seeded_users("np"))

    emails = [item.user.email for item in result.eager.data]
    assert len(emails) == 3
    assert "outsider@example.com" not in emails
    assert result.per_row.statement_count == 4


async def test_other_work_on_the_engine_is_not_counted(db: Database) -> None:
    """A statement run on another connection during the scenario leaves the counts exact."""
    await seeding.seed(db, 5, SCORES, marker="np")
    async with db.engine.connect() as other:
        with db.count_statements() as engine_wide:
            result = await compare_all_users(db, 5, where=seeding.seeded_users("np"))
            await other.exec_driver_sql("SELECT 1")
    assert result.per_row.statement_count == 6
    assert result.eager.statement_count == 2
    assert engine_wide.count == 6 + 2 + 1


async def test_single_user_pair_counts_what_each_side_says_it_ran(db: Database) -> None:
    user = await create_user(db, email="pair@example.com", name="Pair")
    for _ in range(3):
        await create_sample_airscore(user.id, db=db)

    result = await compare_single_user(db, user.id)

    assert result.eager.statement_count == 2
    assert result.per_row.statement_count == result.per_row.queries_issued == 2
    assert result.identical
    assert len(result.eager.data[0].scores) == 3


async def test_single_user_pair_is_timed_as_the_median_of_repeated_warm_runs(
    db: Database,
) -> None:
    user = await create_user(db, email="median@example.com", name="Median")
    await create_sample_airscore(user.id, db=db)
    with count_statements(db.engine) as engine_wide:
        result = await compare_single_user(db, user.id, repeats=5)
    for run in (result.per_row, result.eager):
        assert len(run.times_s) == 5
        assert run.elapsed_s == statistics.median(run.times_s)
        assert run.spread_s == (min(run.times_s), max(run.times_s))
    # One warm-up run of each way, not measured, then five of each: two statements a run.
    assert engine_wide.count == 2 * 2 * (1 + 5)


async def test_single_user_pair_for_an_unknown_user_is_not_found(db: Database) -> None:
    with pytest.raises(NotFound):
        await compare_single_user(db, "00000000-0000-4000-8000-000000000000")


async def test_eager_adds_one_statement_per_further_500_users_and_says_so(db: Database) -> None:
    await seeding.seed(db, 501, 1, marker="np")

    result = await compare_all_users(db, where=seeding.seeded_users("np"))

    assert result.eager.statement_count == result.eager.queries_issued == 3
    assert result.per_row.statement_count == result.per_row.queries_issued == 502
    assert result.identical
