"""Create: the learner designs an outbox table over three steps (columns, indexes, the relay's
claim) and grades it in the fourth, beside QuLab's own design.

The choices come from fixed lists (qulab.lab.event_table_design); the grade runs the lab's
fixed workload on a scratch schema or file (qulab.lab.event_table_grade) and shows both
designs' figures side by side.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from qulab.core import InvalidInput
from qulab.entrypoints.app.context import LabContext
from qulab.entrypoints.app.feedback import attempt
from qulab.entrypoints.app.literal import literal
from qulab.entrypoints.app.step_marks import mark_step
from qulab.lab.event_table_design import (
    COLUMNS,
    LOCKS,
    MAX_BATCH,
    NO_ORDER,
    PENDING_WHERE,
    TYPES,
    Design,
    make_design,
)
from qulab.lab.event_table_grade import (
    AGGREGATES,
    EVENTS_PER_AGGREGATE,
    HISTORY_ROWS,
    Comparison,
    Grade,
    grade_beside_reference,
)
from qulab.lab.wording import counted

RESULT_KEY = "design_result"
SUBMIT_LABEL = "Grade my design"
LEFT_OUT = "not in the table"
INDEX_SLOTS = 3
GRADE_COLUMNS = ("measure", "your design", "reference")

START_TYPES = {
    "id": "varchar(36)",
    "aggregate_id": "varchar(36)",
    "event_type": "text",
    "payload": "json",
    "status": "varchar(36)",
    "created_at": "timestamptz",
    "sequence": "bigint identity",
    "published_at": "timestamptz",
}
START_INDEXES: tuple[tuple[list[str], bool], ...] = ((["status", "created_at"], False),)
START_ORDER = "created_at"


def _column_choices() -> dict[str, str]:
    chosen = {}
    for name, (purpose, _, required) in COLUMNS.items():
        options = list(TYPES) if required else [LEFT_OUT, *TYPES]
        picked = st.selectbox(
            f"`{name}`: {purpose}",
            options,
            index=options.index(START_TYPES[name]),
            key=f"design_col_{name}",
        )
        if picked != LEFT_OUT:
            chosen[name] = picked
    return chosen


def _index_choices() -> list[tuple[list[str], bool]]:
    chosen = []
    for slot in range(INDEX_SLOTS):
        start_columns, start_partial = (
            START_INDEXES[slot] if slot < len(START_INDEXES) else ([], False)
        )
        left, right = st.columns([3, 2])
        columns = left.multiselect(
            f"Index {slot + 1}: columns, in order",
            list(COLUMNS),
            default=start_columns,
            key=f"design_index_{slot}",
        )
        partial = right.checkbox(
            f"only pending rows (`WHERE {PENDING_WHERE}`)",
            value=start_partial,
            key=f"design_index_{slot}_partial",
        )
        if columns:
            chosen.append((columns, partial))
    return chosen


def grade_frame(comparison: Comparison) -> pd.DataFrame:
    """The two grades side by side, one measure a row."""

    def blocked(grade: Grade) -> str:
        if grade.blocked is None:
            return "n/a (SQLite serialises writers)"
        return "yes" if grade.blocked else "no"

    def plan(grade: Grade) -> str:
        return "index" if grade.index_used else "full table scan"

    rows: list[tuple[str, ...]] = []
    for measure, value in (
        ("claim reads", plan),
        ("throughput (events/s, one run)", lambda g: f"{g.throughput:.0f}"),
        ("events published", lambda g: f"{g.published} of {g.produced}"),
        ("events lost", lambda g: str(g.lost)),
        ("events published twice", lambda g: str(g.duplicates)),
        ("order inversions", lambda g: str(g.inversions)),
        ("relay blocked behind the killed relay", blocked),
        ("table size (bytes per row)", lambda g: f"{g.bytes_per_row:.0f}"),
        ("table rows", lambda g: str(g.table_rows)),
    ):
        rows.append((measure, value(comparison.design), value(comparison.reference)))
    return pd.DataFrame(rows, columns=list(GRADE_COLUMNS))


def _show(comparison: Comparison) -> None:
    st.caption(
        f"{comparison.design.database}: your design, then the reference, each on a fresh "
        f"scratch table with the same workload. Throughput is one run on a shared machine: "
        "compare it with the reference beside it, not across runs."
    )
    st.caption(f"Your design: {literal(comparison.design.design.summary())}.")
    st.table(grade_frame(comparison).set_index("measure"))
    problems = comparison.design.problems()
    for problem in problems:
        st.error(problem[0].upper() + problem[1:] + ".", icon=":material/close:")
    if not problems:
        st.success(
            "Your design holds up: the claim uses an index, and no event was lost, "
            "published twice or overtaken.",
            icon=":material/check_circle:",
        )
    with st.expander("The claim's plan, yours and the reference's"):
        st.code(comparison.design.plan, language="text")
        st.code(comparison.reference.plan, language="text")


def _intro(sqlite: bool) -> None:
    st.markdown(
        "Design the outbox table yourself, one step at a time: its columns and their types "
        "(here), its indexes (a partial index covers only the pending rows), how the relay "
        "claims its next batch, then **Grade my design** in the last step. The grade builds "
        "your table in a scratch "
        + ("SQLite file" if sqlite else "PostgreSQL schema")
        + f" (removed afterwards), fills it with {HISTORY_ROWS:,} published events and "
        f"gathers statistics, then runs a fixed workload: two producers write "
        f"{AGGREGATES * EVENTS_PER_AGGREGATE} events for {AGGREGATES} aggregates, a relay "
        "claims a batch and is killed with its transaction open, and two relays claim, "
        "publish and mark side by side. QuLab's own design runs the same workload beside it."
    )


def _claim_choices(sqlite: bool) -> tuple[str, str, int, bool]:
    if sqlite:
        st.info(
            "On SQLite the lock options change nothing: SQLite has no row locks and lets one "
            "writer in at a time, so each relay's transaction takes the write lock when it "
            "begins and the relays take turns. Point the lab at PostgreSQL to see what "
            "`SKIP LOCKED` is for.",
            icon=":material/info:",
        )
    order_by = st.selectbox(
        "Order by",
        [NO_ORDER, *COLUMNS],
        index=1 + list(COLUMNS).index(START_ORDER),
        key="design_order_by",
    )
    lock = st.radio(
        "Row lock",
        list(LOCKS),
        format_func=lambda key: LOCKS[key],
        key="design_lock",
        horizontal=True,
    )
    batch = st.number_input(
        "Batch size", min_value=1, max_value=MAX_BATCH, value=50, step=1, key="design_batch"
    )
    hold = st.checkbox(
        "Hold an aggregate back while an earlier event of it is pending",
        key="design_hold",
    )
    return str(order_by), str(lock), int(batch), hold


def render_design(context: LabContext, steps: Sequence[DeltaGenerator]) -> None:
    """The design over its steps (columns, indexes, the claim, the grade); the grade runs on
    "Grade my design" and the last one is shown again on reruns."""
    columns_step, indexes_step, claim_step, grade_step = steps
    sqlite = context.db.dialect == "sqlite"
    with columns_step:
        _intro(sqlite)
        columns = _column_choices()
    with indexes_step:
        st.markdown(
            "Up to three indexes, each on columns in order; tick the box to index only the "
            f"pending rows (`WHERE {PENDING_WHERE}`)."
        )
        indexes = _index_choices()
    with claim_step:
        order_by, lock, batch, hold = _claim_choices(sqlite)
    with grade_step:
        st.markdown(
            f"Your choices from steps 1 to 3: {counted(len(columns), 'column')}, "
            f"{counted(len(indexes), 'index', 'indexes')}, the claim ordered by `{order_by}`, "
            f"{LOCKS[lock]}, batch {batch}."
        )
        if st.button(SUBMIT_LABEL, type="primary", icon=":material/grading:", key="design_grade"):
            _grade(context, columns, indexes, order_by, lock, batch, hold)
        shown = st.session_state.get(RESULT_KEY)
        if isinstance(shown, Comparison):
            _show(shown)


def _grade(
    context: LabContext,
    columns: dict[str, str],
    indexes: list[tuple[list[str], bool]],
    order_by: str,
    lock: str,
    batch: int,
    hold: bool,
) -> None:
    st.session_state.pop(RESULT_KEY, None)
    try:
        design: Design = make_design(columns, indexes, order_by, lock, batch, hold)
    except InvalidInput as error:
        problem = str(error).partition(": ")[2]
        st.error(
            f"This design cannot be built: {literal(problem)}. Nothing was created.",
            icon=":material/error:",
        )
        return
    db = context.db
    with st.spinner("Running the workload on your design, then on the reference..."):
        comparison = attempt(db, lambda: grade_beside_reference(db, design))
    if comparison is not None:
        st.session_state[RESULT_KEY] = comparison
        mark_step("design", "Grade")
