"""Page 3, Apply: each repository method beside the SQL it sent, and the loading-strategy
exercise (choose per relationship, run it, compare with a statement budget)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from qulab.core import Database
from qulab.entrypoints.app.context import LabContext
from qulab.entrypoints.app.feedback import attempt
from qulab.entrypoints.app.literal import literal
from qulab.entrypoints.app.write_view import render_write
from qulab.lab.loading import (
    APPLY_MARKER,
    DEFAULT_BUDGET,
    DEFAULT_REPEATS,
    LAZY,
    RAISE,
    STRATEGIES,
    ExerciseRun,
    LoadingChoice,
    ensure_exercise_rows,
    run_exercise,
)
from qulab.lab.repository_tour import STOP_NAMES, MethodRun, method_source, run_method

RUN_METHOD_LABEL = "Run This Method"
RUN_EXERCISE_LABEL = "Run the Page"
METHOD_KEY = "apply_method"
METHOD_RUN_KEY = "apply_method_run"
EXERCISE_KEY = "apply_exercise_run"
MAX_EXERCISE_USERS = 100


def _joined_sql(statements: tuple[str, ...]) -> str:
    return ";\n\n".join(statements) + ";" if statements else "-- no statement was sent"


def _method_panel(db: Database) -> None:
    st.subheader("Apply: the repository next to its SQL")
    st.markdown(
        "Pick a repository method: its source is on the left. Run it and the SQL the database "
        f"received appears on the right, counted on the connection, on {db.description}. Each "
        "method runs in its own transaction on a user, score and assessment created for it, "
        "and the transaction is rolled back afterwards, so writes leave nothing behind."
    )
    name = st.selectbox("Repository method", STOP_NAMES, key=METHOD_KEY)
    left, right = st.columns(2)
    with left:
        st.markdown("**Source**")
        st.code(method_source(name), language="python", wrap_lines=True)
    with right:
        st.markdown("**SQL sent**")
        if st.button(RUN_METHOD_LABEL, icon=":material/play_arrow:", key="apply_run_method"):
            run = attempt(db, lambda: run_method(db, name))
            if run is not None:
                st.session_state[METHOD_RUN_KEY] = run
        shown = st.session_state.get(METHOD_RUN_KEY)
        if isinstance(shown, MethodRun) and shown.name == name:
            st.metric(f"SQL statements ({name})", shown.statement_count)
            st.code(_joined_sql(shown.statements), language="sql", wrap_lines=True)
            st.caption(f"Returned: {shown.returned}. Rolled back: nothing was kept.")
        else:
            st.caption("Not run yet.")


def _verdict(run: ExerciseRun) -> None:
    if run.error is not None:
        st.error(
            "The page stopped: a relationship it reads is set to `raise`, so SQLAlchemy refused "
            f"to load it quietly. Its message: “{literal(run.error)}”. Choose a loading strategy "
            "for that relationship.",
            icon=":material/block:",
        )
        return
    columns = st.columns(3)
    columns[0].metric("SQL statements", run.statement_count, help=f"budget ≤ {run.budget}")
    low, high = run.spread_s
    columns[1].metric(
        f"Median time (ms, {len(run.times_s)} runs)",
        f"{run.median_s * 1000:.2f}",
        help=f"after one warm-up run; range {low * 1000:.2f}-{high * 1000:.2f} ms",
    )
    columns[2].metric("Users on the page", run.users)
    st.caption(
        f"Time spread over {len(run.times_s)} runs after a warm-up: "
        f"{low * 1000:.2f}-{high * 1000:.2f} ms."
    )
    if run.within_budget:
        st.success(
            f"Within budget: {run.statement_count} statements ≤ {run.budget}, whatever N is.",
            icon=":material/check_circle:",
        )
    else:
        st.warning(
            f"Over budget: {run.statement_count} statements > {run.budget}. A per-row load "
            "sends one statement per user: try `selectinload`.",
            icon=":material/warning:",
        )
    with st.expander(f"The SQL of one run ({run.statement_count} statements)"):
        st.code(_joined_sql(run.statements), language="sql", wrap_lines=True)
    frame = pd.DataFrame(
        [
            {
                "user": row.name,
                "scores": row.scores,
                "latest assessment": row.latest_assessment or "none",
            }
            for row in run.rows
        ]
    )
    st.dataframe(frame, hide_index=True, width="stretch")


async def _prepare_and_run(
    db: Database, choice: LoadingChoice, users: int, budget: int
) -> ExerciseRun:
    await ensure_exercise_rows(db, users)
    return await run_exercise(db, choice, users, budget=budget, repeats=DEFAULT_REPEATS)


def _exercise(db: Database) -> None:
    st.subheader("Exercise: load a page within a statement budget")
    st.markdown(
        "A page lists N users, each with their number of scores and their latest assessment. "
        "Choose how each relationship is loaded, run the page, and see whether it stays within "
        f"the budget. `raise` refuses any load that was not asked for, `{LAZY}` loads per user "
        "on access, the other three load eagerly in one or two statements. The users are "
        f"seeded under the marker `{APPLY_MARKER}` (removable with "
        f"`qulab seed --clear --marker {APPLY_MARKER}`)."
    )
    columns = st.columns(4)
    scores = columns[0].selectbox(
        "User.scores", STRATEGIES, index=STRATEGIES.index(LAZY), key="apply_scores"
    )
    assessments = columns[1].selectbox(
        "User.assessments", STRATEGIES, index=STRATEGIES.index(RAISE), key="apply_assessments"
    )
    users = int(
        columns[2].number_input(
            "Users (N)", min_value=1, max_value=MAX_EXERCISE_USERS, value=20, key="apply_users"
        )
    )
    budget = int(
        columns[3].number_input(
            "Budget (statements)",
            min_value=1,
            max_value=50,
            value=DEFAULT_BUDGET,
            key="apply_budget",
        )
    )
    if st.button(RUN_EXERCISE_LABEL, type="primary", icon=":material/timer:", key="apply_run"):
        choice = LoadingChoice(scores, assessments)
        with st.spinner(f"Loading the page {DEFAULT_REPEATS + 1} times..."):
            run = attempt(db, lambda: _prepare_and_run(db, choice, users, budget))
        if run is not None:
            st.session_state[EXERCISE_KEY] = run
    shown = st.session_state.get(EXERCISE_KEY)
    if isinstance(shown, ExerciseRun):
        st.markdown(
            f"`User.scores`: **{shown.choice.scores}**, `User.assessments`: "
            f"**{shown.choice.assessments}**, N = {shown.users}."
        )
        _verdict(shown)
    else:
        st.caption("Not run yet: choose a strategy for each relationship and run the page.")


def render_apply(context: LabContext) -> None:
    """The Apply section of page 3."""
    _method_panel(context.db)
    render_write(context.db)
    _exercise(context.db)
