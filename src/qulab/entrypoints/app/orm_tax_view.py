"""Page 3's ORM tax panel: one user read by id on each rung, driver to ORM, measured live."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from qulab.core import Database
from qulab.entrypoints.app.context import LabContext
from qulab.entrypoints.app.feedback import attempt
from qulab.entrypoints.app.step_marks import mark_step
from qulab.lab.orm_tax import Ladder, measure_orm_tax

RESULT_KEY = "orm_tax_result"
RUN_LABEL = "Measure the ORM Tax"
ROUNDS = 7
READS = 50
WARMUP = 1


def ladder_frame(ladder: Ladder) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "rung": rung.label,
                "µs per read (median)": round(rung.median_s * 1e6, 1),
                "spread": f"{rung.spread:.0%}",
                "ratio to the driver": f"{ladder.ratio(rung):.2f}x",
            }
            for rung in ladder.rungs
        ]
    )


def _pre_ping_caption(db: Database) -> str:
    stats = db.pre_ping
    if stats is None:
        return "Pre-ping is off for this pool."
    return (
        f"Pre-ping since the pool was built: {stats.pings} pings "
        f"({stats.seconds * 1000:.1f} ms in all), {stats.skipped} checkouts reused a connection "
        f"idle less than {stats.idle_seconds:g} s and skipped it, {stats.replaced} dead "
        "connections replaced."
    )


def _show(ladder: Ladder, db: Database) -> None:
    st.caption(
        f"{ladder.database}: {ladder.rounds} rounds of {ladder.reads} reads per rung after "
        f"{WARMUP} warm-up round, the rungs interleaved; median per read, spread = (slowest "
        "round - fastest) / median."
    )
    st.dataframe(ladder_frame(ladder), hide_index=True, width="stretch")
    st.caption(_pre_ping_caption(db))


def render_orm_tax(context: LabContext, user_id: str | None) -> None:
    db = context.db
    st.subheader("The ORM tax: one read, from the driver up")
    st.markdown(
        "Each rung reads the chosen user by id the way a request does: the bare database "
        "driver on a plain connection (the floor), one Core `SELECT` straight into the frozen "
        "read model (what the cache loads on a miss), and the ORM entity through "
        "`UserRepository.get_by_id` in a read session. What separates a rung from the floor is "
        "the tax: the pool checkout, SQLAlchemy's statement and result machinery and, for the "
        "ORM, building and tracking an entity; the numbers are live, so a busy machine "
        "widens the spread."
    )
    if st.button(RUN_LABEL, icon=":material/stairs:", key="orm_tax_run"):
        if not user_id:
            st.warning("Choose a user or enter a user ID first.", icon=":material/warning:")
        else:
            with st.spinner(f"Reading the user {ROUNDS * READS} times on each rung..."):
                ladder = attempt(
                    db,
                    lambda: measure_orm_tax(db, user_id, rounds=ROUNDS, reads=READS, warmup=WARMUP),
                )
            if ladder is not None:
                st.session_state[RESULT_KEY] = ladder
                mark_step("repository", "The ORM tax")
    shown = st.session_state.get(RESULT_KEY)
    if isinstance(shown, Ladder):
        _show(shown, db)
