"""Keeping a written answer's or a prediction's grade in the learner's progress.

Recorded through the unit of work once the schema (with ``lab_progress``) is at head; before
that the result is graded and shown but not kept, and the page says so, as the knowledge
checks do.
"""

from __future__ import annotations

import streamlit as st

from qulab.core import Database
from qulab.entrypoints.app import runtime
from qulab.entrypoints.app.feedback import explain, progress_stored
from qulab.lab.activities import record_activity
from qulab.platform import uow_factory


def keep_activity(db: Database, page: str, activity_id: str, right: bool) -> None:
    """Count this graded attempt; one graded right counts in the sidebar's progress."""
    if not progress_stored(db):
        st.caption("Graded, but not kept in your progress until the database is initialised.")
        return
    try:
        runtime.run(record_activity(uow_factory(db), page, activity_id, right))
    except Exception as error:
        st.warning(
            f"Graded, but not kept in your progress: {explain(error, db)}",
            icon=":material/warning:",
        )
