"""Page 5's lab mode: watch an event move, see a consumer's projection converge, break it.

Off by default; in page 5's Lab mode step the toggle shows three hands-on parts: the publisher
delay slider with the last event's status, the lab's consumer with its projection, and a
small chaos round.
"""

from __future__ import annotations

import streamlit as st

from qulab.entrypoints.app.break_it_view import break_it
from qulab.entrypoints.app.context import LabContext
from qulab.entrypoints.app.event_watch_view import watch_event
from qulab.entrypoints.app.projection_view import projection_section
from qulab.entrypoints.app.relay_control import RelayController
from qulab.entrypoints.app.step_marks import mark_step

LAB_MODE_KEY = "eventing_lab_mode"
LAB_MODE_LABEL = "Lab mode: watch, consume, break it"


def _turned() -> None:
    if st.session_state.get(LAB_MODE_KEY):
        mark_step("eventing", "Lab mode")


def outbox_lab(context: LabContext, controller: RelayController, event_id: str | None) -> None:
    st.divider()
    if not st.toggle(
        LAB_MODE_LABEL,
        key=LAB_MODE_KEY,
        help="Slow the publisher down to watch an event move, follow a consumer's projection "
        "and run a chaos round.",
        on_change=_turned,
    ):
        return
    watch_event(context.db, controller, event_id)
    st.divider()
    projection_section(context.settings, context.db)
    st.divider()
    break_it(context.settings)
