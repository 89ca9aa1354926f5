"""Page 4, Analyze by predicting: before the strategy comparison runs, the learner predicts what
it will show; the prediction is frozen when the run starts and graded from the measured table."""

from __future__ import annotations

from typing import Any

import streamlit as st

from qulab.core import Database
from qulab.entrypoints.app.activity_record import keep_activity
from qulab.lab.activities import ANALYZE_PAGE, PREDICTION_ID
from qulab.lab.cache_compare import CacheComparison
from qulab.lab.prediction import (
    LOAD_QUESTION,
    NO_STALE,
    SKEW_EFFECTS,
    STALE_QUESTION,
    Prediction,
    PredictionGrade,
    grade_prediction,
    skew_question,
)
from qulab.lab.strategies import STRATEGY_NAMES
from qulab.lab.workload import Workload

GRADED_KEY = "prediction_graded"
MISSING_KEY = "prediction_missing"


def render_prediction(workload: Workload) -> Prediction | None:
    """The three questions; the prediction once all three are answered, else None."""
    st.markdown(
        "**Predict first.** Answer the three questions for the workload set above, then run "
        "the comparison: your answers are graded from the table it measures."
    )
    columns = st.columns(3)
    stale = columns[0].radio(
        STALE_QUESTION, [*STRATEGY_NAMES, NO_STALE], index=None, key="predict_stale"
    )
    least = columns[1].radio(LOAD_QUESTION, list(STRATEGY_NAMES), index=None, key="predict_load")
    skew = columns[2].radio(
        skew_question(workload.zipf), list(SKEW_EFFECTS), index=None, key="predict_skew"
    )
    if stale is None or least is None or skew is None:
        st.caption("Answer all three questions to have your prediction graded.")
        return None
    return Prediction(stale, least, skew)


def keep(
    db: Database,
    prediction: Prediction | None,
    skewed: CacheComparison,
    uniform: CacheComparison,
) -> None:
    """Grade the prediction made before this run (or remember that none was made), and keep
    the grade in the learner's progress: it counts there once every answer is right."""
    if prediction is None:
        st.session_state.pop(GRADED_KEY, None)
        st.session_state[MISSING_KEY] = True
        return
    graded = grade_prediction(prediction, skewed, uniform)
    st.session_state[GRADED_KEY] = graded
    st.session_state[MISSING_KEY] = False
    keep_activity(db, ANALYZE_PAGE, PREDICTION_ID, graded.right == len(graded.answers))


def render_grade() -> None:
    """The graded prediction of the last run, each answer with the figures that decide it."""
    graded: Any = st.session_state.get(GRADED_KEY)
    if st.session_state.get(MISSING_KEY):
        st.info(
            "This run was made without a full prediction: answer the three questions above, "
            "then run the comparison again to have them graded.",
            icon=":material/psychology:",
        )
        return
    if not isinstance(graded, PredictionGrade):
        return
    st.markdown(f"**Your prediction, graded from this run: {graded.summary}**")
    st.caption("It counts in your progress (the sidebar) once all three answers are right.")
    for answer in graded.answers:
        text = (
            f"{answer.question} You said **{answer.predicted}**; measured: **{answer.measured}**. "
            f"{answer.explanation}"
        )
        if answer.correct:
            st.success(f"Right. {text}", icon=":material/check_circle:")
        else:
            st.warning(f"Missed. {text}", icon=":material/close:")
