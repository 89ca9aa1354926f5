"""Page 3, Apply: each repository method beside the SQL it sent, then the exercise the learner
answers by writing the query or the method (graded in the sandbox, see write_view)."""

from __future__ import annotations

import streamlit as st

from qulab.core import Database
from qulab.entrypoints.app.context import LabContext
from qulab.entrypoints.app.feedback import attempt
from qulab.entrypoints.app.write_view import render_write
from qulab.lab.repository_tour import STOP_NAMES, MethodRun, method_source, run_method

RUN_METHOD_LABEL = "Run This Method"
METHOD_KEY = "apply_method"
METHOD_RUN_KEY = "apply_method_run"


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


def render_apply(context: LabContext) -> None:
    """The Apply section of page 3."""
    _method_panel(context.db)
    render_write(context.db)
