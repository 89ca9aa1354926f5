"""Page 1: the demo rows the lab seeded (by marker, counted) and a button that removes them."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from qulab.core import Database
from qulab.entrypoints.app import runtime
from qulab.entrypoints.app.demo_data import LAB_MARKERS
from qulab.entrypoints.app.feedback import attempt, explain
from qulab.lab.demo_rows import DemoInventory, demo_inventory, remove_demo_rows
from qulab.lab.wording import counted

REMOVE_LABEL = "Remove Demo Data"
REMOVED_KEY = "demo_data_removed"


def _frame(inventory: DemoInventory) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "marker": item.marker,
                "emails end with": f"@{item.marker}.seed.qulab.test",
                "users": item.users,
                "scores": item.scores,
                "assessments": item.assessments,
            }
            for item in inventory.markers
        ]
    )


def demo_users_caption(db: Database, total_users: int) -> None:
    """Says how many of ``total_users`` are demo users seeded by the lab."""
    inventory = attempt(db, lambda: demo_inventory(db, LAB_MARKERS))
    if inventory is None:
        return
    st.caption(
        f"Of these {total_users} users, {inventory.users} are demo users the lab seeded "
        f"(with {inventory.scores} scores and {inventory.assessments} assessments) and "
        f"{total_users - inventory.users} are not. See “Demo data” below."
    )


def _remove(db: Database) -> None:
    """Runs before the page is drawn again, so every count on it is read after the removal."""
    try:
        removed = runtime.run(remove_demo_rows(db, LAB_MARKERS))
    except Exception as error:
        st.session_state[REMOVED_KEY] = ("error", explain(error, db))
        return
    st.session_state[REMOVED_KEY] = (
        "success",
        f"Removed {counted(removed.users, 'demo user')} with their "
        f"{counted(removed.scores, 'score')} and {counted(removed.assessments, 'assessment')}.",
    )


def render_demo_data(db: Database) -> None:
    st.subheader("Demo data")
    st.markdown(
        "Pages 2 and 3 seed users in bulk for their experiments, each under a marker in the "
        "email address, so they never mix with the users you create. The table counts them; "
        "the button removes them (through the unit of work, one `users.removed` event per "
        "marker so caches forget them) and leaves every other row alone. The pages seed them "
        "again when needed."
    )
    st.button(
        REMOVE_LABEL,
        icon=":material/delete_sweep:",
        key="remove_demo_data",
        on_click=_remove,
        args=(db,),
    )
    outcome = st.session_state.pop(REMOVED_KEY, None)
    if outcome is not None:
        kind, text = outcome
        (st.success if kind == "success" else st.error)(text)
    inventory = attempt(db, lambda: demo_inventory(db, LAB_MARKERS))
    if inventory is None:
        return
    st.dataframe(_frame(inventory), hide_index=True, width="stretch")
    if inventory.users == 0:
        st.caption("No demo rows at the moment.")
