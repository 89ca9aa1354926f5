"""Page 5's "Consumer view + projection": what the lab's consumer received, oldest first,
beside the ``user_score_summary`` projection it keeps, and whether that agrees with
``air_scores`` yet."""

from __future__ import annotations

from typing import Any

import streamlit as st

from qulab.core import ConfigurationError, Database, Settings
from qulab.entrypoints.app.feedback import attempt, friendly_message
from qulab.entrypoints.app.literal import literal
from qulab.entrypoints.app.projection_control import (
    ProjectionController,
    Received,
    projection_controller,
)
from qulab.lab.projection_state import ProjectionState, projection_state

REFRESH_SECONDS = 2.0
DIFFERENCES_SHOWN = 5


def _when(received: Received) -> str:
    return received.received_at.strftime("%H:%M:%S.%f")[:-3]


def _delivered_rows(received: list[Received]) -> list[dict[str, Any]]:
    return [
        {
            "received": _when(r),
            "event_id": r.delivery.event_id,
            "type": r.delivery.type,
            "aggregate": f"{r.delivery.aggregate_type} {r.delivery.aggregate_id}",
            "occurred_at": r.delivery.occurred_at.isoformat(timespec="milliseconds")
            if r.delivery.occurred_at
            else "",
        }
        for r in received
    ]


def _summary_rows(state: ProjectionState) -> list[dict[str, Any]]:
    return [
        {
            "user_id": row.user_id,
            "scores": row.score_count,
            "mean": None if row.mean_score is None else round(row.mean_score, 2),
            "latest": None if row.latest_score is None else round(row.latest_score, 2),
        }
        for row in state.rows
    ]


def _panel(db: Database, controller: ProjectionController) -> None:
    left, right = st.columns(2)
    received = controller.received()
    left.markdown(f"**Delivered to the lab's consumer** (oldest first, last {len(received)})")
    if received:
        left.dataframe(_delivered_rows(received), hide_index=True)
    else:
        left.info("Nothing delivered yet: publish some events.")
    state = attempt(db, lambda: projection_state(db))
    right.markdown("**`user_score_summary` projection**")
    if state is None:
        return
    if state.rows:
        right.dataframe(_summary_rows(state), hide_index=True)
    else:
        right.info("The projection is empty.")
    show = st.success if state.matches else st.warning
    show(
        f"{state.verdict} · {state.applied} events applied · {state.duplicates} duplicate "
        f"deliveries skipped by the inbox · {state.users} users in the projection"
    )
    if state.differences:
        with st.expander(f"What differs ({len(state.differences)})"):
            st.code("\n".join(state.differences[:DIFFERENCES_SHOWN]), language=None)
    if controller.crash:
        st.error(f"The lab's consumer stopped: {literal(controller.crash)}")
    elif controller.totals.outage:
        st.warning(f"The lab's consumer waits for the broker: {literal(controller.totals.outage)}")


def projection_section(settings: Settings, db: Database) -> None:
    st.markdown("**Consumer view and projection, converging**")
    st.markdown(
        "A consumer of the lab's own (`score-summary`) reads the broker and keeps "
        "`user_score_summary`: a score event adds to the user's count and mean, a deletion "
        "empties it. Each event is applied once through the inbox; a delivery seen before "
        "is skipped. Once every event is published and consumed the projection agrees with "
        "`air_scores`: the services converge without a distributed transaction."
    )
    try:
        controller = projection_controller(settings, db)
    except ConfigurationError as error:
        st.error(friendly_message(error), icon=":material/error:")
        return

    @st.fragment(run_every=REFRESH_SECONDS)
    def live() -> None:
        _panel(db, controller)

    live()
