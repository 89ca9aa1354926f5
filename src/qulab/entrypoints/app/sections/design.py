"""Create: design an event table for the outbox, then see it graded beside QuLab's own."""

from __future__ import annotations

import streamlit as st

from qulab.entrypoints.app.checks_view import render_checks
from qulab.entrypoints.app.context import lab_context
from qulab.entrypoints.app.design_view import render_design
from qulab.entrypoints.app.steps import CHECK_STEP, lab_steps

STEPS = ("Columns", "Indexes", "The relay's claim", "Grade", CHECK_STEP)
PAGE = "design"
EXPLAINS = ("Columns", "Indexes", "The relay's claim")  # steps with no action of their own


def render() -> None:
    context = lab_context()
    st.title("Create: design an event table")
    *design, check = lab_steps(STEPS, page=PAGE, explains=EXPLAINS)
    render_design(context, design)
    with check:
        render_checks(PAGE)


if __name__ == "__main__":
    render()
