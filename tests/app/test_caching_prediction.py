"""Page 4, Analyze by predicting: the learner's prediction, made before the run, is graded from
the table the run measured and kept in the learner's progress; a run without a prediction says
how to get one graded."""

from __future__ import annotations

import pandas as pd
from streamlit.testing.v1 import AppTest

from qulab.core.db import Database
from qulab.entrypoints.app.navigation import CACHING, CONNECTIVITY
from qulab.entrypoints.app.sections.connectivity import SETUP_LABEL
from qulab.entrypoints.app.strategies_view import RESULT_KEY, RUN_LABEL
from qulab.lab.activities import ANALYZE_PAGE, PREDICTION_ID
from qulab.lab.checks import LOCAL_LEARNER
from qulab.lab.models import LabProgress
from qulab.lab.prediction import FLAT, RISE
from tests.app.helpers import go_to, no_exception, open_runtime, query, texts


def _caching_page() -> AppTest:
    at = go_to(open_runtime(), CONNECTIVITY)
    next(b for b in at.button if b.label == SETUP_LABEL).click().run()
    no_exception(at)
    at = go_to(at, CACHING)
    at.slider(key="strategies_tasks").set_value(4).run()
    return at


async def _prediction_row(db: Database) -> tuple[bool, int] | None:
    async with db.session() as session:
        row = await session.get(LabProgress, (LOCAL_LEARNER, ANALYZE_PAGE, PREDICTION_ID))
        return None if row is None else (row.correct, row.attempts)


def _run(at: AppTest) -> AppTest:
    next(b for b in at.button if b.label == RUN_LABEL).click().run(timeout=300)
    no_exception(at)
    return at


def test_a_prediction_is_graded_from_the_measured_table(sqlite_url: str) -> None:
    at = _caching_page()
    assert any("Answer all three questions" in text for text in texts(at.caption))
    at.radio(key="predict_stale").set_value("ttl-only")
    at.radio(key="predict_load").set_value("invalidate")
    at.radio(key="predict_skew").set_value(RISE)
    at = _run(at)
    # the measured table the page shows, read from the run itself (not from its display)
    comparison = at.session_state[RESULT_KEY]
    table = pd.DataFrame(comparison.as_dicts()).set_index("strategy")
    graded = [
        t for t in texts(at.success) + texts(at.warning) if t.startswith(("Right.", "Missed."))
    ]
    assert len(graded) == 3
    [stale] = [t for t in graded if "most stale reads?" in t]
    most = int(table["stale_reads"].max())
    assert stale.startswith("Right." if table.loc["ttl-only", "stale_reads"] == most else "Missed.")
    assert f"{most} of {int(table.loc[table['stale_reads'].idxmax(), 'reads'])} reads" in stale
    [load] = [t for t in graded if "load the database least" in t]
    least = int(table["db_loads"].min())
    assert load.startswith("Right." if table.loc["invalidate", "db_loads"] == least else "Missed.")
    assert f"least: {least} loads" in load
    [skew] = [t for t in graded if "the mean hit ratio" in t]
    assert "% with uniform keys" in skew and "at Zipf 0.8" in skew
    right = sum(t.startswith("Right.") for t in graded)
    assert any(f"{right} of 3 predictions right." in t for t in texts(at.markdown))
    # Kept in the learner's progress: counted there only when all three are right.
    assert query(sqlite_url, _prediction_row) == (right == 3, 1)
    predicted = 1 if right == 3 else 0
    assert f"predicted {predicted}/1)" in next(
        line for line in texts(at.sidebar.markdown) if "Apply and Analyze" in line
    )


def test_a_run_without_a_prediction_asks_for_one(sqlite_url: str) -> None:
    at = _caching_page()
    at.radio(key="predict_skew").set_value(FLAT)
    at = _run(at)
    assert any("without a full prediction" in text for text in texts(at.info))
    assert not [t for t in texts(at.success) if t.startswith("Right.")]
    assert query(sqlite_url, _prediction_row) is None  # nothing graded, nothing kept
