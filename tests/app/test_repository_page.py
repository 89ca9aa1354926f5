"""Page 3: sample scores, one user per-row vs eager, and N users (1 + N against 2), counted."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from qulab.core.db import Database
from qulab.entrypoints.app.demo_data import NPLUSONE_MARKER
from qulab.entrypoints.app.navigation import CONNECTIVITY, DATA_MODELS, REPOSITORY
from qulab.entrypoints.app.sections.connectivity import SETUP_LABEL
from qulab.entrypoints.app.user_choice import OTHER
from qulab.lab import DEMO_USERS
from qulab.lab.nplusone import SINGLE_REPEATS
from qulab.platform.models import AIRScore
from qulab.platform.services import seeding
from tests.app.helpers import go_to, no_exception, open_runtime, query, texts, user_emails

ALEX_EMAIL = DEMO_USERS[0][0]


def _initialised() -> AppTest:
    at = go_to(open_runtime(), CONNECTIVITY)
    next(b for b in at.button if b.label == SETUP_LABEL).click().run()
    no_exception(at)
    return go_to(at, REPOSITORY)


def _score_ids(url: str, user_id: str) -> set[str]:
    async def _read(db: Database) -> set[str]:
        async with db.session() as session:
            rows = await session.scalars(select(AIRScore.id).where(AIRScore.user_id == user_id))
            return set(rows.all())

    return set(query(url, _read))


def _metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: str(metric.value) for metric in at.metric}


def _frame_with(at: AppTest, column: str) -> pd.DataFrame:
    return next(df.value for df in at.dataframe if column in df.value.columns)


def test_add_scores_then_per_row_and_eager_show_counted_statements_and_the_sql(
    lab_url: str,
) -> None:
    at = _initialised()
    no_exception(at)
    alex_id = user_emails(lab_url)[ALEX_EMAIL]
    assert at.selectbox(key="nplusone_user").value == "Alex Smith (sample user)"

    at.button(key="add_scores").click().run()
    no_exception(at)
    assert texts(at.success) == [f"3 sample scores added for Alex Smith (ID: {alex_id})"]
    stored = _score_ids(lab_url, alex_id)
    assert len(stored) == 3
    assert set(_frame_with(at, "score id")["score id"]) == stored

    at.button(key="fetch_compare").click().run()
    no_exception(at)
    metrics = _metrics(at)
    per_row = int(metrics["SQL statements (per-row)"])
    eager = int(metrics["SQL statements (eager)"])
    report = next(t for t in texts(at.markdown) if t.startswith("Per-row ran"))
    score_queries = int(report.split(" for the user and ")[1].split(" ")[0])
    assert per_row == 1 + score_queries == 2
    assert eager == 2
    assert float(metrics["Median time (per-row, ms)"]) > 0
    assert float(metrics["Median time (eager, ms)"]) > 0

    per_row_sql, eager_sql = (block.value for block in at.code[:2])
    assert per_row_sql.count("SELECT") == per_row
    assert "FROM users" in per_row_sql and "FROM air_scores" in per_row_sql
    assert eager_sql.count("SELECT") == eager
    assert "FROM air_scores" in eager_sql and " IN (" in eager_sql
    assert "Both strategies loaded identical data: yes." in texts(at.caption)
    assert set(_frame_with(at, "score id")["score id"]) == stored


def test_the_per_row_and_eager_buttons_each_run_their_own_strategy(lab_url: str) -> None:
    at = _initialised()
    at.button(key="add_scores").click().run()

    at.button(key="fetch_per_row").click().run()
    no_exception(at)
    metrics = _metrics(at)
    assert metrics["SQL statements (per-row)"] == "2"
    assert "SQL statements (eager)" not in metrics
    [per_row_sql] = (block.value for block in at.code if block.language == "sql")
    assert "FROM users" in per_row_sql and " IN (" not in per_row_sql

    at.button(key="fetch_eager").click().run()
    no_exception(at)
    metrics = _metrics(at)
    assert metrics["SQL statements (per-row)"] == "2"
    assert metrics["SQL statements (eager)"] == "2"
    assert "Both strategies loaded identical data: yes." in texts(at.caption)
    assert " IN (" in at.code[1].value
    captions = texts(at.caption)
    for strategy in ("per-row", "eager"):
        [timing] = [t for t in captions if t.startswith(f"{strategy}: median of ")]
        assert timing.startswith(f"{strategy}: median of {SINGLE_REPEATS} runs after a warm-up;")
    assert any(
        "For one user both ways need two statements" in t and "grows with the number of users" in t
        for t in texts(at.info)
    )


def test_all_users_comparison_counts_one_plus_n_against_two(lab_url: str) -> None:
    at = _initialised()
    at.number_input(key="nplusone_n").set_value(12)
    at.button(key="compare_all").click().run()
    no_exception(at)

    assert query(lab_url, lambda db: seeding.count_seeded(db, NPLUSONE_MARKER)) == 12
    assert any(f"`{NPLUSONE_MARKER}`" in info for info in texts(at.info))
    frame = _frame_with(at, "N users")
    assert list(frame["N users"]) == [1, 3, 6, 9, 12]
    assert list(frame["per-row statements"]) == [1 + n for n in frame["N users"]]
    assert list(frame["1 + N"]) == list(frame["per-row statements"])
    assert set(frame["eager statements"]) == {2}
    assert set(frame["identical data"]) == {"yes"}
    metrics = _metrics(at)
    assert metrics["Per-row statements (N = 12)"] == "13"
    assert metrics["Eager statements (N = 12)"] == "2"
    assert len(at.get("vega_lite_chart")) == 2  # statements and time against N

    # Fewer users next time: the seeded ones are reused, nothing is seeded again.
    at.number_input(key="nplusone_n").set_value(4)
    at.button(key="compare_all").click().run()
    frame = _frame_with(at, "N users")
    assert list(frame["N users"]) == [1, 2, 3, 4]
    assert list(frame["per-row statements"]) == [2, 3, 4, 5]
    assert not any(f"`{NPLUSONE_MARKER}`" in info for info in texts(at.info))
    assert query(lab_url, lambda db: seeding.count_seeded(db, NPLUSONE_MARKER)) == 12


def test_scores_go_to_the_user_created_on_page_one(sqlite_url: str) -> None:
    at = _initialised()
    go_to(at, DATA_MODELS)
    at.text_input(key="new_user_email").input("maria@example.com")
    at.text_input(key="new_user_name").input("Maria Lopez")
    at.button(key="create_user_submit").click().run()
    maria_id = user_emails(sqlite_url)["maria@example.com"]

    go_to(at, REPOSITORY)
    options = at.selectbox(key="nplusone_user").options
    assert options == [
        "Alex Smith (sample user)",
        "Jane Doe (sample user)",
        "Maria Lopez (created on page 1)",
        OTHER,
    ]
    at.selectbox(key="nplusone_user").select("Maria Lopez (created on page 1)").run()
    at.button(key="add_scores").click().run()
    no_exception(at)
    assert texts(at.success) == [f"3 sample scores added for Maria Lopez (ID: {maria_id})"]
    assert len(_score_ids(sqlite_url, maria_id)) == 3


def test_a_bad_or_unknown_user_id_gets_a_clear_message_and_writes_nothing(
    sqlite_url: str,
) -> None:
    at = _initialised()
    at.selectbox(key="nplusone_user").select(OTHER).run()
    at.text_input(key="nplusone_user_id").input("not-a-uuid").run()
    at.button(key="add_scores").click().run()
    no_exception(at)
    [error] = texts(at.error)
    assert error.startswith("Invalid user_id:")

    unknown = "00000000-0000-4000-8000-000000000000"
    at.text_input(key="nplusone_user_id").input(unknown).run()
    at.button(key="fetch_compare").click().run()
    [error] = texts(at.error)
    assert error.startswith(f"No user with id {unknown} exists.")
    at.button(key="add_scores").click().run()
    assert texts(at.error)[0].startswith(f"No user with id {unknown} exists.")

    async def _all_scores(db: Database) -> int:
        async with db.session() as session:
            return len((await session.scalars(select(AIRScore.id))).all())

    assert query(sqlite_url, _all_scores) == 0


def test_page_asks_for_the_database_first(sqlite_url: str) -> None:
    at = go_to(open_runtime(), REPOSITORY)
    no_exception(at)
    assert any("initialise the database on page 2" in w for w in texts(at.warning))
    assert "add_scores" not in [button.key for button in at.button]
