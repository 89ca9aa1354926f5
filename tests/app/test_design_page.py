"""Create: the event-table design form, its one-line refusals and the grade table."""

from __future__ import annotations

import pandas as pd
from streamlit.testing.v1 import AppTest

from qulab.entrypoints.app.design_view import GRADE_COLUMNS, LEFT_OUT, SUBMIT_LABEL
from qulab.entrypoints.app.navigation import DESIGN
from tests.app.helpers import go_to, no_exception, open_runtime, texts


def _page() -> AppTest:
    at = go_to(open_runtime(), DESIGN)
    no_exception(at)
    return at


def _submit(at: AppTest) -> AppTest:
    next(b for b in at.button if b.label == SUBMIT_LABEL).click().run()
    no_exception(at)
    return at


def _grades(at: AppTest) -> dict[str, tuple[str, str]]:
    [frame] = [t.value for t in at.table if list(t.value.columns) == list(GRADE_COLUMNS[1:])]
    assert isinstance(frame, pd.DataFrame)
    assert frame.index.name == GRADE_COLUMNS[0]
    return {str(measure): (row.iloc[0], row.iloc[1]) for measure, row in frame.iterrows()}


def test_the_preset_design_is_graded_beside_the_reference(lab_url: str) -> None:
    at = _page()
    assert at.title[0].value == "Create: design an event table"
    assert at.selectbox(key="design_order_by").value == "created_at"
    assert at.multiselect(key="design_index_0").value == ["status", "created_at"]
    sqlite = lab_url.startswith("sqlite")
    assert any("lock options change nothing" in t for t in texts(at.info)) == sqlite

    grades = _grades(_submit(at))

    assert grades["claim reads"] == ("index", "index")
    assert grades["events lost"] == ("0", "0")
    assert grades["events published twice"] == ("0", "0")
    assert grades["order inversions"][1] == "0"
    assert grades["events published"] == ("320 of 320", "320 of 320")
    assert grades["relay blocked behind the killed relay"] == (
        ("n/a (SQLite serialises writers)",) * 2 if sqlite else ("no", "no")
    )
    assert float(grades["throughput (events/s, one run)"][1]) > 0


def test_a_design_without_an_index_shows_the_full_scan(sqlite_url: str) -> None:
    at = _page()
    at.multiselect(key="design_index_0").set_value([])

    grades = _grades(_submit(at))

    assert grades["claim reads"] == ("full table scan", "index")
    assert "The claim scans the whole table: no index serves it." in texts(at.error)


def test_an_impossible_design_is_refused_in_one_line_and_nothing_runs(sqlite_url: str) -> None:
    at = _page()
    at.selectbox(key="design_col_sequence").set_value(LEFT_OUT)
    at.selectbox(key="design_order_by").set_value("sequence")

    _submit(at)

    assert texts(at.error) == [
        "This design cannot be built: the claim orders by a column that is not in the table. "
        "Nothing was created."
    ]
    assert not at.table
