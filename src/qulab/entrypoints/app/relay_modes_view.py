"""Page 5's "Polling vs log-tailing" step: both relays on the same events, and a stopped slot.

The scenario is ``qulab.lab.relay_modes``; this view asks for it, keeps its result in the
session, and renders the tables. Where the lab's database cannot run it (SQLite, or PostgreSQL
without ``wal_level=logical``) the step says what it needs and how to get it.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from qulab.entrypoints.app import runtime
from qulab.entrypoints.app.context import LabContext
from qulab.entrypoints.app.feedback import attempt, explain
from qulab.entrypoints.app.step_marks import mark_step
from qulab.lab.relay_modes import (
    EVENTS,
    START_COMMAND,
    RelayCost,
    RelayModes,
    compare_relay_modes,
    logical_wal_missing,
)

COMPARE_LABEL = "Compare polling and log-tailing"
EVENTS_LABEL = "Events to publish"
RESULT_KEY = "relay_modes_result"
RELAY_NAMES = {
    "polling": "polling (QULAB_RELAY_MODE=polling)",
    "wal": "log-tailing (QULAB_RELAY_MODE=wal)",
}
RUN_TIMEOUT = 120.0

HOW_TO_GET_IT = f"""{START_COMMAND}
# then, in the shell that starts the lab, the lines it prints:
export QULAB_DATABASE_URL=postgresql://postgres@127.0.0.1:<primary port>/qulab
export QULAB_DATABASE_REPLICA_URLS=postgresql://postgres@127.0.0.1:<standby port>/qulab
qulab setup
make app"""


def _intro() -> None:
    st.markdown(
        "QuLab has two relays for the same outbox. The **polling** relay asks `domain_events` "
        "for pending rows, publishes them and marks each row published. The **log-tailing** "
        "relay (`QULAB_RELAY_MODE=wal`) keeps a replication stream open on a logical slot: "
        "PostgreSQL decodes each committed insert from its write-ahead log and sends it; the "
        "relay publishes it, deletes its row and confirms the slot's position past it. Here "
        "both publish the **same events**: a slot is created, the events are committed once, "
        "the polling relay drains them from the table and the WAL relay receives the same "
        "inserts from the log (each to an in-memory broker of its own), "
        "on a scratch database beside yours that is removed afterwards."
    )


def _needs(missing: str) -> None:
    st.info(missing, icon=":material/database:")
    st.code(HOW_TO_GET_IT, language="bash")
    st.caption(
        f"`{START_COMMAND}` starts a private primary with wal_level=logical and a standby "
        "streaming from it, so the same pair serves the Scaling page too; "
        "`qulab lab replica down --yes` removes it."
    )


def _cost_rows(result: RelayModes) -> list[dict[str, Any]]:
    def row(cost: RelayCost) -> dict[str, Any]:
        return {
            "relay": RELAY_NAMES[cost.mode],
            "events published": cost.published,
            "round trips": cost.statements,
            "round trips per event": round(cost.statements_per_event, 3),
            "UPDATE statements on domain_events": cost.event_updates,
            "rows marked published": cost.rows_marked,
            "rows marked per event": round(cost.rows_marked_per_event, 3),
            "rows deleted": cost.rows_deleted,
        }

    return [row(result.polling), row(result.wal)]


def _kb(size: int) -> str:
    return f"{size / 1024:,.1f} KiB"


def _show(result: RelayModes) -> None:
    same = "the same event ids, in the same order" if result.same_events else "different events"
    st.markdown(f"**{result.events} events, both relays** (the two brokers received {same}):")
    st.dataframe(_cost_rows(result), hide_index=True)
    st.caption(
        "Round trips are every SQL statement each drain sent, counted by the statement "
        "counter (the events themselves reach the WAL relay on its replication stream, which "
        "sends no statement): a batch costs about the same whatever its size. The difference "
        "is the rows: the polling "
        "relay writes a new version of every event's row to mark it (and purges them later); "
        "the log-tailing relay updates none, it deletes the batch in one statement."
    )
    wal = result.wal
    st.markdown("**The slot's confirmed position** (how far the WAL relay has read):")
    before, after = st.columns(2)
    before.metric("Before the drain", wal.position_before or "none")
    after.metric("After the drain", wal.position_after or "none")
    kept = result.retained
    st.markdown(
        f"**The WAL relay stopped**: {kept.events} events written while nobody read the slot."
    )
    idle, stopped, released = st.columns(3)
    idle.metric("Retained, relay caught up", _kb(kept.idle_bytes))
    stopped.metric(
        "Retained, relay stopped",
        _kb(kept.stopped_bytes),
        delta=_kb(kept.stopped_bytes - kept.idle_bytes),
        delta_color="inverse",
    )
    released.metric(
        "Retained, relay ran again",
        _kb(kept.released_bytes),
        delta=_kb(kept.released_bytes - kept.stopped_bytes),
        delta_color="inverse",
    )
    st.caption(
        "A slot keeps every byte of WAL from its restart position on, for as long as no relay "
        "reads it: a relay that stays stopped fills the server's disk (QULAB_RELAY_WAL_WARN_BYTES "
        "warns in `qulab doctor`). Once the relay caught up, the restart position moves at the "
        "next record of running transactions (a checkpoint, or the background writer's every "
        "15 s) and PostgreSQL recycles the WAL behind it."
        + (
            ""
            if kept.checkpointed
            else " Your user may not run CHECKPOINT, so the release waits for the server's own."
        )
    )


def relay_modes_step(context: LabContext) -> None:
    """The step: what it needs, or the button, the run and its tables."""
    db = context.db
    _intro()

    async def missing() -> str:
        return await logical_wal_missing(db) or ""

    found = attempt(db, missing)
    if found is None:  # the database did not answer: attempt said so
        return
    if found:
        _needs(found)
        return
    events = st.number_input(
        EVENTS_LABEL, min_value=10, max_value=500, value=EVENTS, step=10, key="relay_modes_events"
    )
    if st.button(COMPARE_LABEL, key="relay_modes_compare", icon=":material/compare_arrows:"):
        with st.spinner("Creating a scratch database and running both relays..."):
            try:
                result = runtime.run(
                    compare_relay_modes(context.settings, int(events)), timeout=RUN_TIMEOUT
                )
            except Exception as error:
                st.error(explain(error, db), icon=":material/error:")
                return
        st.session_state[RESULT_KEY] = result
        mark_step("eventing", "Polling vs log-tailing")
    shown = st.session_state.get(RESULT_KEY)
    if isinstance(shown, RelayModes):
        _show(shown)
    else:
        st.caption(f"Click “{COMPARE_LABEL}” to run both relays on the same events.")
