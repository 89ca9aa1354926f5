"""Page 3, Apply by writing: the learner writes the query or the repository method in an editor,
the lab runs it in the sandbox and grades it by its rows and its statement count. Hints appear
only after a wrong attempt; the model answer only after a right one. Each graded attempt is kept
in the learner's progress; a right one counts there."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from qulab.core import Database
from qulab.entrypoints.app import runtime
from qulab.entrypoints.app.activity_record import keep_activity
from qulab.entrypoints.app.feedback import explain
from qulab.entrypoints.app.step_marks import mark_step
from qulab.lab.activities import APPLY_PAGE, apply_id
from qulab.lab.answer_grade import AnswerGrade, grade_answer
from qulab.lab.exercises import EXERCISES, TOOL_NAMES, Exercise, Row

CHECK_LABEL = "Check My Answer"
EXERCISE_PICKER = "write_exercise"
GRADE_TIMEOUT = 120.0
EDITOR_CSS = '[class*="st-key-write_source_"] textarea {font-family: monospace;}'
TITLES = {exercise.title: exercise for exercise in EXERCISES}


def _keys(exercise: Exercise) -> tuple[str, str, str]:
    return (
        f"write_source_{exercise.key}",
        f"write_grade_{exercise.key}",
        f"write_wrong_{exercise.key}",
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _rows_frame(rows: tuple[Row, ...]) -> pd.DataFrame:
    return pd.DataFrame([[str(value) for value in row] for row in rows])


def _grade(db: Database, exercise: Exercise, source: str) -> AnswerGrade | None:
    try:
        return runtime.run(grade_answer(db, exercise.key, source), timeout=GRADE_TIMEOUT)
    except Exception as error:
        st.error(explain(error, db), icon=":material/error:")
        return None


def _show_grade(grade: AnswerGrade) -> None:
    if grade.passed:
        st.success(grade.verdict, icon=":material/check_circle:")
    elif grade.refused:
        st.error(f"Refused: {grade.verdict}", icon=":material/block:")
    else:
        st.warning(f"Not yet: {grade.verdict}", icon=":material/close:")
    columns = st.columns(3)
    columns[0].metric(
        "Statements sent", grade.statement_count, help="counted on the sandbox's connection"
    )
    columns[1].metric("Budget (statements)", grade.budget)
    columns[2].metric("Rows returned", len(grade.rows) if grade.rows is not None else "none")
    if grade.statements:
        sent_sql = _plural(grade.statement_count, "statement")
        with st.expander(f"The SQL your answer sent ({sent_sql})"):
            st.code(";\n\n".join(grade.statements) + ";", language="sql", wrap_lines=True)
    if grade.rows is not None and not grade.passed:
        left, right = st.columns(2)
        left.markdown("**Your rows**")
        left.dataframe(_rows_frame(grade.rows), hide_index=True, width="stretch")
        right.markdown("**Expected rows**")
        right.dataframe(_rows_frame(grade.expected), hide_index=True, width="stretch")


def _exercise(db: Database, exercise: Exercise) -> None:
    source_key, grade_key, wrong_key = _keys(exercise)
    st.markdown(f"**{exercise.title}.** {exercise.task}")
    with st.form(f"write_form_{exercise.key}", border=False):
        source = st.text_area(
            f"Your answer: `{exercise.entry}`",
            value=exercise.starter,
            height=220,
            key=source_key,
        )
        checked = st.form_submit_button(CHECK_LABEL, type="primary", icon=":material/play_arrow:")
    if checked:
        with st.spinner("Running your answer in the sandbox..."):
            fresh = _grade(db, exercise, source)
        if fresh is not None:
            st.session_state[grade_key] = fresh
            if not fresh.passed:
                st.session_state[wrong_key] = st.session_state.get(wrong_key, 0) + 1
            keep_activity(db, APPLY_PAGE, apply_id(exercise.key), fresh.passed)
            if fresh.passed:
                mark_step(APPLY_PAGE, "Apply: write it")
    grade: Any = st.session_state.get(grade_key)
    if isinstance(grade, AnswerGrade):
        _show_grade(grade)
    wrong = int(st.session_state.get(wrong_key, 0))
    if wrong and not (isinstance(grade, AnswerGrade) and grade.passed):
        for number, hint in enumerate(exercise.hints[:wrong], start=1):
            st.info(f"Hint {number}: {hint}", icon=":material/lightbulb:")
    if isinstance(grade, AnswerGrade) and grade.passed:
        with st.expander("The model answer"):
            st.code(exercise.reference, language="python")


def render_write(db: Database) -> None:
    """The Apply-by-writing section of page 3."""
    st.html(f"<style>{EDITOR_CSS}</style>")
    st.subheader("Apply: write the query yourself")
    st.markdown(
        "Write the query or the repository method; the lab runs it on "
        f"{db.description} and grades it by its rows (equal to the model answer's) and by the "
        "statements it sent, against a budget. Your code runs in a sandbox: a separate process "
        "with a CPU-time limit, a read-only transaction rolled back afterwards, and only these "
        f"names: {', '.join(f'`{name}`' for name in TOOL_NAMES)}."
    )
    title = st.radio("Exercise", list(TITLES), key=EXERCISE_PICKER, horizontal=True)
    _exercise(db, TITLES[title or EXERCISES[0].title])
