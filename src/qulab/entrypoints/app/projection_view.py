"""Page 5's "Consumer view + projection": what the lab's consumer received, oldest first,
beside the ``user_score_summary`` projection it keeps, and whether that agrees with
``air_scores`` yet."""

from __future__ import annotations

from typing import Any

import streamlit as st

from qulab.core import ConfigurationError, Database, Settings
from qulab.entrypoints.app.demo_data import SEEDED_WITHOUT_EVENTS
from qulab.entrypoints.app.feedback import attempt, friendly_message
from qulab.entrypoints.app.literal import literal
from qulab.entrypoints.app.projection_control import (
    ProjectionController,
    Received,
    projection_controller,
)
from qulab.lab.projection_state import ProjectionState, projection_state
from qulab.lab.wording import counted
from qulab.platform import ProjectionMismatch

REFRESH_SECONDS = 2.0
DIFFERENCES_SHOWN = 10


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


def _number(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def difference_rows(mismatches: list[ProjectionMismatch]) -> list[dict[str, Any]]:
    """One row per user: what air_scores says beside what the projection says."""
    rows = []
    for m in mismatches:
        want, got = m.expected, m.actual
        rows.append(
            {
                "user_id": m.user_id,
                "scores (air_scores)": want.count if want else 0,
                "scores (projection)": got.count if got else 0,
                "mean (air_scores)": _number(want.mean if want else None),
                "mean (projection)": _number(got.mean if got else None),
                "latest (air_scores)": _number(want.latest if want else None),
                "latest (projection)": _number(got.latest if got else None),
            }
        )
    return rows


def _panel(db: Database, controller: ProjectionController) -> None:
    left, right = st.columns(2)
    received = controller.received()
    left.markdown(f"**Delivered to the lab's consumer** (oldest first, last {len(received)})")
    if received:
        left.dataframe(_delivered_rows(received), hide_index=True)
    else:
        left.info("Nothing delivered yet: publish some events.")
    state = attempt(db, lambda: projection_state(db, seeded_without_events=SEEDED_WITHOUT_EVENTS))
    right.markdown("**`user_score_summary` projection**")
    if state is None:
        return
    if state.rows:
        right.dataframe(_summary_rows(state), hide_index=True)
    else:
        right.info("The projection is empty.")
    show = st.success if state.matches else st.warning
    show(
        f"{state.verdict} · {counted(state.applied, 'event')} applied · "
        f"{counted(state.duplicates, 'duplicate delivery', 'duplicate deliveries')} skipped by "
        f"the inbox · {counted(state.users, 'user')} in the projection"
    )
    if state.left_out:
        st.caption(
            f"{counted(state.left_out, 'seeded demo user')} (pages 2 and 3, `qulab seed`) "
            f"{'is' if state.left_out == 1 else 'are'} left out of the comparison: bulk "
            "seeding writes rows without score events, so no consumer can learn of them."
        )
    if state.differences:
        with st.expander(f"What differs ({len(state.differences)})"):
            shown = state.differences[:DIFFERENCES_SHOWN]
            st.dataframe(difference_rows(shown), hide_index=True)
            if len(state.differences) > len(shown):
                st.caption(f"The first {len(shown)} of {len(state.differences)} users.")
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
