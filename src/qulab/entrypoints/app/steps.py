"""A page as numbered steps: one tab per step, the step to do now open, the rest beside it."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import altair as alt
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from qulab.entrypoints.app.step_marks import done_steps
from qulab.lab.step_progress import CHECK_STEP, first_open

__all__ = ["CHECK_STEP", "lab_steps", "needs_step", "step_labels", "value_axis"]

ARRIVAL_KEY = "lab_steps_arrival"  # (the open page's steps key, the step opened on arrival)


def step_labels(steps: Sequence[str]) -> list[str]:
    """``["Set up", ...]`` as the tabs read: ``["1. Set up", ...]``."""
    return [f"{number}. {name}" for number, name in enumerate(steps, start=1)]


def lab_steps(
    steps: Sequence[str], *, page: str | None = None, explains: Collection[str] = ()
) -> Sequence[DeltaGenerator]:
    """One tab per step, numbered in the order they are done.

    The step open on arrival follows the learner's progress on ``page``: step 1 until it is
    done, then the first step not yet done (``explains``: the steps with no action of their
    own, done once a later one is). It is chosen once per arrival and kept while the learner
    stays on the page, so doing a step never moves the page away from its result. The key is
    the page's own (its steps), so arriving from another page never reopens the step that page
    had open.
    """
    labels = step_labels(steps)
    key = "lab_steps:" + "/".join(steps)
    opened = 0
    if page is not None:
        arrival = st.session_state.get(ARRIVAL_KEY)
        if isinstance(arrival, tuple) and arrival[0] == key:
            opened = int(arrival[1])
        else:
            opened = first_open(steps, done_steps(page), explains)
            st.session_state[ARRIVAL_KEY] = (key, opened)
    return st.tabs(labels, default=labels[opened], key=key)


def needs_step(number: int, name: str) -> None:
    """What a later tab says while the step it builds on cannot run yet."""
    st.caption(f"Do step {number} ({name}) first: this step uses what it makes.")


def value_axis(title: str) -> alt.Axis:
    """A vertical axis whose title reads horizontally, above the axis, with its unit."""
    return alt.Axis(
        title=title,
        titleAngle=0,
        titleAlign="left",
        titleBaseline="bottom",
        titleAnchor="end",
        titleX=0,
        titleY=-8,
    )
