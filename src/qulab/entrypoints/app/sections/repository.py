"""3. Repository Pattern & N+1: sample scores, per-row against eager loading, counted; the ORM
tax measured."""

from __future__ import annotations

from collections.abc import Callable

import altair as alt
import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from qulab.core import Database
from qulab.entrypoints.app.apply_view import render_apply
from qulab.entrypoints.app.checks_view import render_checks
from qulab.entrypoints.app.context import LabContext, lab_context
from qulab.entrypoints.app.demo_data import (
    NPLUSONE_MARKER,
    NPLUSONE_SCORES,
    SAMPLE_SCORES,
    ScalingPoint,
    add_sample_scores,
    nplusone_scaling,
    scaling_sizes,
)
from qulab.entrypoints.app.feedback import attempt, require_schema
from qulab.entrypoints.app.literal import literal
from qulab.entrypoints.app.orm_tax_view import render_orm_tax
from qulab.entrypoints.app.step_marks import mark_step
from qulab.entrypoints.app.steps import CHECK_STEP, lab_steps, needs_step, value_axis
from qulab.entrypoints.app.user_choice import choose_user
from qulab.lab import Comparison, StrategyRun
from qulab.lab.nplusone import EAGER, PER_ROW, SINGLE_REPEATS, measure_single_users
from qulab.lab.wording import counted
from qulab.platform import ScoreRead

ADD_LABEL = f"Add {SAMPLE_SCORES} Sample Scores for User"
PER_ROW_LABEL = "Fetch User & Scores (Per-row, N+1)"
EAGER_LABEL = "Fetch User & Scores (Eager Loading)"
FETCH_LABEL = "Compare Both Side by Side"
PER_ROW_TITLE = "Per-row: get_by_id, then the user's scores"
EAGER_TITLE = "Eager: get_user_with_scores_eager (selectinload)"
SCALE_LABEL = "Compare Per-row vs Eager for N Users"
SINGLE_KEY = "nplusone_single"
SCALING_KEY = "nplusone_scaling"
MAX_N = 500
SQL_SHOWN = 6


def _intro() -> None:
    st.markdown(
        "Alex keeps data access behind repositories: `UserRepository.get_by_id`, "
        "`get_latest_score`, `get_user_with_scores_eager` and friends. Services ask for what "
        "they need by name and never build queries themselves, so the queries can be tested, "
        "counted and tuned in one place."
    )
    st.markdown(
        "The classic trap is the **N+1 query problem**: load N users with one query, then "
        "their scores with one more query per user. Eager loading (`selectinload`) fetches the "
        "scores of all the users at once with a second statement whatever N is:"
    )
    st.latex(r"Q_{\text{per-row}}(N) = 1 + N \qquad Q_{\text{eager}}(N) = 2 \quad (N \le 500)")
    st.markdown(
        "Every number below is counted on the database connection itself (a "
        "`before_cursor_execute` listener), and the SQL shown is what was sent."
    )


def _scores_frame(scores: list[ScoreRead] | tuple[ScoreRead, ...]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "score id": score.id,
                "AI-R score": score.air_score,
                "occupation": score.occupation_code,
                "VR": score.vr_score,
                "HR": score.hr_score,
                "synergy": score.synergy_score,
                "created at (UTC)": score.created_at.strftime("%Y-%m-%d %H:%M:%S.%f"),
            }
            for score in scores
        ]
    )


def _add_scores(context: LabContext, user_id: str | None) -> None:
    db = context.db
    st.subheader("Create sample scores")
    st.markdown(
        f"Adds {SAMPLE_SCORES} sample AI-R scores for the chosen user through "
        "`create_sample_airscore`, each committed in its own unit of work (which also drops "
        "the user's cached entries after the commit)."
    )
    if st.button(ADD_LABEL, type="primary", icon=":material/add_chart:", key="add_scores"):
        if not user_id:
            st.warning("Choose a user or enter a user ID first.", icon=":material/warning:")
            return
        added = attempt(db, lambda: add_sample_scores(db, user_id))
        if added is not None:
            user, scores = added
            st.success(
                f"{len(scores)} sample scores added for {literal(user.name)} (ID: {user.id})",
                icon=":material/check_circle:",
            )
            st.dataframe(_scores_frame(scores), hide_index=True, width="stretch")
            mark_step(PAGE, "Choose a user, add scores")


def _strategy_column(run: StrategyRun, title: str) -> None:
    st.markdown(f"**{title}**")
    left, right = st.columns(2)
    low, high = run.spread_s
    left.metric(f"SQL statements ({run.strategy})", run.statement_count)
    right.metric(f"Median time ({run.strategy}, ms)", f"{run.elapsed_s * 1000:.2f}")
    st.caption(
        f"{run.strategy}: median of {len(run.times_s) or 1} runs after a warm-up; "
        f"range {low * 1000:.2f}-{high * 1000:.2f} ms."
    )
    st.code(";\n\n".join(run.statements) + ";", language="sql", wrap_lines=True)


def _show_single(result: Comparison) -> None:
    per_row, eager = result.per_row, result.eager
    item = eager.data[0]
    user = item.user
    st.markdown(
        f"**{literal(user.name)}** ({literal(user.email)}), ID `{user.id}`: "
        f"{counted(len(item.scores), 'score')}, "
        f"on {result.database}."
    )
    st.markdown(
        f"Per-row ran **{counted(per_row.statement_count, 'statement')}**: 1 for the user and "
        f"{per_row.queries_issued - 1} for the scores (one score query per user loaded). "
        f"Eager ran **{counted(eager.statement_count, 'statement')}**: the user, then the "
        "scores through `selectinload`."
    )
    st.info(
        "For one user both ways need two statements, so their times are close and the "
        "ranking can flip from run to run: the gain of eager loading grows with the number of "
        "users. Compare them for N users in step 4.",
        icon=":material/trending_up:",
    )
    left, right = st.columns(2)
    with left:
        _strategy_column(per_row, PER_ROW_TITLE)
    with right:
        _strategy_column(eager, EAGER_TITLE)
    same = "yes" if result.identical else "NO"
    st.caption(f"Both strategies loaded identical data: {same}.")
    if item.scores:
        st.dataframe(_scores_frame(item.scores), hide_index=True, width="stretch")
    else:
        st.info(f"This user has no scores yet: click “{ADD_LABEL}” in step 2.")


def _show_one(run: StrategyRun, database: str) -> None:
    item = run.data[0]
    other = "Eager Loading" if run.strategy == PER_ROW else "Per-row"
    st.markdown(
        f"**{literal(item.user.name)}** ({literal(item.user.email)}): "
        f"{counted(len(item.scores), 'score')}, on {database}. "
        f"Click the {other} button too to compare the two side by side."
    )
    title = PER_ROW_TITLE if run.strategy == PER_ROW else EAGER_TITLE
    _strategy_column(run, title)
    if item.scores:
        st.dataframe(_scores_frame(item.scores), hide_index=True, width="stretch")


def _fetch_single(context: LabContext, user_id: str | None) -> None:
    db = context.db
    st.subheader("Fetch a user and their scores: per-row vs eager")
    st.caption(
        "For the user chosen in step 2. "
        f"Each button warms the strategy up once, then times {SINGLE_REPEATS} runs and shows "
        "their median and range; comparing takes the two strategies in turn."
    )
    buttons = st.columns(3)
    wanted: tuple[str, ...] = ()
    if buttons[0].button(PER_ROW_LABEL, icon=":material/repeat:", key="fetch_per_row"):
        wanted = (PER_ROW,)
    if buttons[1].button(EAGER_LABEL, icon=":material/bolt:", key="fetch_eager"):
        wanted = (EAGER,)
    if buttons[2].button(FETCH_LABEL, icon=":material/compare_arrows:", key="fetch_compare"):
        wanted = (PER_ROW, EAGER)
    if wanted and not user_id:
        st.warning("Choose a user or enter a user ID first.", icon=":material/warning:")
    elif wanted and user_id:
        runs = attempt(db, lambda: _fetch_runs(db, user_id, wanted))
        if runs is not None:
            shown = st.session_state.get(SINGLE_KEY)
            kept = shown[1] if isinstance(shown, tuple) and shown[0] == user_id else {}
            st.session_state[SINGLE_KEY] = (user_id, kept | runs)
            if {PER_ROW, EAGER} <= set(kept | runs):
                mark_step(PAGE, "Per-row vs eager")
    shown = st.session_state.get(SINGLE_KEY)
    if not (isinstance(shown, tuple) and shown[0] == user_id):
        return
    runs_by_strategy: dict[str, StrategyRun] = shown[1]
    if PER_ROW in runs_by_strategy and EAGER in runs_by_strategy:
        _show_single(Comparison(db.description, runs_by_strategy[PER_ROW], runs_by_strategy[EAGER]))
    else:
        _show_one(next(iter(runs_by_strategy.values())), db.description)


async def _fetch_runs(
    db: Database, user_id: str, strategies: tuple[str, ...]
) -> dict[str, StrategyRun]:
    return await measure_single_users(db, user_id, strategies, SINGLE_REPEATS)


def scaling_frame(points: list[ScalingPoint]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "N users": point.users,
                "per-row statements": point.comparison.per_row.statement_count,
                "1 + N": 1 + point.users,
                "eager statements": point.comparison.eager.statement_count,
                "per-row time (ms)": round(point.comparison.per_row.elapsed_s * 1000, 2),
                "eager time (ms)": round(point.comparison.eager.elapsed_s * 1000, 2),
                "identical data": "yes" if point.comparison.identical else "NO",
            }
            for point in points
        ]
    )


def _against_n(by_n: pd.DataFrame, title: str, measure: str, y_label: str) -> None:
    """Per-row (red) against eager (blue) for one measure, plotted over N."""
    st.markdown(f"**{title}**")
    columns = [f"per-row {measure}", f"eager {measure}"]
    long = by_n[columns].reset_index().melt("N users", var_name="strategy", value_name="value")
    chart = (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X("N users:Q", title="N users"),
            y=alt.Y("value:Q", axis=value_axis(y_label)),
            color=alt.Color(
                "strategy:N",
                scale=alt.Scale(domain=columns, range=["#d1495b", "#2e86ab"]),
                legend=alt.Legend(orient="bottom", title=None),
            ),
            tooltip=["N users", "strategy", "value"],
        )
        .properties(height=280)
    )
    st.altair_chart(chart, width="stretch")


def _show_scaling(points: list[ScalingPoint], seeded: bool) -> None:
    largest = points[-1]
    per_row, eager = largest.comparison.per_row, largest.comparison.eager
    if seeded:
        st.info(
            f"Seeded {largest.users} users with {NPLUSONE_SCORES} scores each under the marker "
            f"`{NPLUSONE_MARKER}` for this comparison.",
            icon=":material/database:",
        )
    columns = st.columns(4)
    columns[0].metric(f"Per-row statements (N = {largest.users})", per_row.statement_count)
    columns[1].metric(f"Eager statements (N = {largest.users})", eager.statement_count)
    columns[2].metric("Per-row time (ms)", f"{per_row.elapsed_s * 1000:.2f}")
    columns[3].metric("Eager time (ms)", f"{eager.elapsed_s * 1000:.2f}")
    frame = scaling_frame(points)
    st.dataframe(frame, hide_index=True, width="stretch")
    by_n = frame.set_index("N users")
    left, right = st.columns(2)
    with left:
        _against_n(by_n, "SQL statements against N", "statements", "SQL statements")
    with right:
        _against_n(by_n, "Time against N (ms)", "time (ms)", "milliseconds")
    with st.expander(f"The SQL run at N = {largest.users}"):
        shown = min(SQL_SHOWN, per_row.statement_count)
        st.markdown(f"Per-row, the first {counted(shown, 'statement')}:")
        st.code(";\n\n".join(per_row.statements[:SQL_SHOWN]) + ";", language="sql")
        st.markdown("Eager, every statement:")
        st.code(";\n\n".join(eager.statements) + ";", language="sql")


def _scaling(context: LabContext) -> None:
    db = context.db
    st.subheader("All users: 1 + N against 2")
    st.markdown(
        f"Loads the first N users with their scores both ways, at a few sizes up to N. The "
        f"users are seeded under the marker `{NPLUSONE_MARKER}` ({NPLUSONE_SCORES} scores each) "
        f"when fewer exist; `qulab seed --clear --marker {NPLUSONE_MARKER}` removes them."
    )
    users = int(
        st.number_input("Users (N)", min_value=1, max_value=MAX_N, value=50, key="nplusone_n")
    )
    if st.button(SCALE_LABEL, icon=":material/stacked_line_chart:", key="compare_all"):
        with st.spinner(f"Loading up to {users} users both ways..."):
            outcome = attempt(db, lambda: nplusone_scaling(db, scaling_sizes(users)))
        if outcome is not None:
            st.session_state[SCALING_KEY] = outcome
            mark_step(PAGE, "N users")
    shown = st.session_state.get(SCALING_KEY)
    if isinstance(shown, tuple):
        points, seeded = shown
        _show_scaling(points, seeded)


STEPS = (
    "The idea",
    "Choose a user, add scores",
    "Per-row vs eager",
    "N users",
    "The ORM tax",
    "Apply: write it",
    CHECK_STEP,
)
PAGE = "repository"
EXPLAINS = ("The idea",)  # steps with no action of their own


def render() -> None:
    context = lab_context()
    st.title("3. The repository pattern and the N+1 query problem")
    idea, scores, single, scaling, tax, apply, check = lab_steps(
        STEPS, page=PAGE, explains=EXPLAINS
    )
    with idea:
        _intro()
    with scores:
        ready = require_schema(context.db)
        user_id = None
        if ready:
            st.subheader("The user")
            user_id = choose_user(context.db, key="nplusone_user")
            _add_scores(context, user_id)
    later: tuple[tuple[DeltaGenerator, Callable[[], None]], ...] = (
        (single, lambda: _fetch_single(context, user_id)),
        (scaling, lambda: _scaling(context)),
        (tax, lambda: render_orm_tax(context, user_id)),
        (apply, lambda: render_apply(context)),
    )
    for tab, step in later:
        with tab:
            if ready:
                step()
            else:
                needs_step(2, STEPS[1])
    with check:
        render_checks(PAGE)


if __name__ == "__main__":
    render()
