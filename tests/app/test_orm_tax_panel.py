"""Page 3's ORM tax panel: the ladder measured live on the configured database."""

from __future__ import annotations

import pandas as pd
from streamlit.testing.v1 import AppTest

from qulab.entrypoints.app.navigation import CONNECTIVITY, REPOSITORY
from qulab.entrypoints.app.orm_tax_view import READS, ROUNDS, RUN_LABEL
from qulab.entrypoints.app.sections.connectivity import SETUP_LABEL
from tests.app.helpers import go_to, no_exception, open_runtime, texts

RUNGS = [
    "bare driver (fetch one row)",
    "Core select into UserRead",
    "ORM entity via UserRepository.get_by_id",
]


def _initialised() -> AppTest:
    at = go_to(open_runtime(), CONNECTIVITY)
    next(b for b in at.button if b.label == SETUP_LABEL).click().run()
    no_exception(at)
    return go_to(at, REPOSITORY)


def _ladder(at: AppTest) -> pd.DataFrame:
    return next(df.value for df in at.dataframe if "rung" in df.value.columns)


def test_the_panel_measures_driver_core_and_orm_side_by_side(lab_url: str) -> None:
    at = _initialised()
    assert any(t.startswith("Each rung reads the chosen user by id") for t in texts(at.markdown))
    assert not [df for df in at.dataframe if "rung" in df.value.columns]

    run = at.button(key="orm_tax_run")
    assert run.label == RUN_LABEL
    run.click().run()
    no_exception(at)

    frame = _ladder(at)
    assert list(frame["rung"]) == RUNGS
    assert all(value > 0 for value in frame["µs per read (median)"])
    assert frame["ratio to the driver"].iloc[0] == "1.00x"
    assert all(text.endswith("%") for text in frame["spread"])
    database = "PostgreSQL" if lab_url.startswith("postgresql") else "SQLite"
    assert any(
        t.startswith(database) and f"{ROUNDS} rounds of {READS} reads per rung" in t
        for t in texts(at.caption)
    )
    [pre_ping] = [t for t in texts(at.caption) if t.startswith("Pre-ping since the pool")]
    assert "idle less than 1 s" in pre_ping


def test_the_result_stays_when_the_page_reruns(sqlite_url: str) -> None:
    at = _initialised()
    at.button(key="orm_tax_run").click().run()
    first = list(_ladder(at)["µs per read (median)"])

    at.button(key="fetch_per_row").click().run()  # another button on the page
    no_exception(at)
    assert list(_ladder(at)["µs per read (median)"]) == first
