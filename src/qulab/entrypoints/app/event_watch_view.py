"""Page 5's "Watch an event move": the publisher delay slider and the last event's status.

The slider sets how long the lab's background relay holds each claimed batch before
publishing it (a real wait in the relay loop), so the learner's last event is seen pending,
then published; the status line refreshes every second while the publisher runs.
"""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from qulab.core import Database, EventRow
from qulab.entrypoints.app.feedback import attempt
from qulab.entrypoints.app.relay_control import MAX_PUBLISH_DELAY, RelayController
from qulab.lab.wording import counted
from qulab.platform import OutboxTables, outbox_tables

DELAY_KEY = "eventing_publish_delay"
DELAY_LABEL = "Publisher delay (seconds)"
WATCH_REFRESH_SECONDS = 1.0


def _set_delay(controller: RelayController) -> None:
    controller.set_publish_delay(float(st.session_state.get(DELAY_KEY, 0.0)))


def _when(moment: datetime | None) -> str:
    return moment.strftime("%H:%M:%S.%f")[:-3] if moment else "?"


def _find(tables: OutboxTables, event_id: str) -> EventRow | None:
    for row in (*tables.pending, *tables.published, *tables.failed):
        if row.id == event_id:
            return row
    return None


def event_line(row: EventRow | None, event_id: str) -> str:
    """What the watch line says about the event."""
    if row is None:
        return f"Event `{event_id}`: not among the latest events (purged, or long published)."
    if row.status == "published" and row.published_at and row.created_at:
        took = (row.published_at - row.created_at).total_seconds()
        return (
            f"Event `{row.id}` ({row.event_type}): **published** at "
            f"{_when(row.published_at)} UTC, {took:.1f} s after it was written."
        )
    if row.status == "pending":
        tried = f", {counted(row.attempts, 'failed attempt')}" if row.attempts else ""
        return (
            f"Event `{row.id}` ({row.event_type}): **pending** since "
            f"{_when(row.created_at)} UTC{tried}."
        )
    return f"Event `{row.id}` ({row.event_type}): **{row.status}**."


def watch_event(db: Database, controller: RelayController, event_id: str | None) -> None:
    st.markdown("**Watch an event move**")
    # The delay belongs to the server's one relay: show its value, whoever set it (written
    # only when another session changed it, so a slider being moved here is left alone).
    if st.session_state.get(DELAY_KEY) != controller.publish_delay:
        st.session_state[DELAY_KEY] = controller.publish_delay
    st.slider(
        DELAY_LABEL,
        min_value=0.0,
        max_value=MAX_PUBLISH_DELAY,
        step=0.5,
        key=DELAY_KEY,
        on_change=_set_delay,
        args=(controller,),
        help="How long the background publisher holds each batch it claimed before publishing "
        "it. Start the publisher, calculate a score and watch its event stay pending, then "
        "turn published.",
    )

    @st.fragment(run_every=WATCH_REFRESH_SECONDS if controller.running else None)
    def line() -> None:
        if event_id is None:
            st.caption(
                "Calculate a score in step 2 (Calculate and publish): its event is followed here."
            )
            return
        tables = attempt(db, lambda: outbox_tables(db))
        if tables is not None:
            st.markdown(event_line(_find(tables, event_id), event_id))
        if not controller.running:
            st.caption("The background publisher is stopped: start it to see the event move.")

    line()
