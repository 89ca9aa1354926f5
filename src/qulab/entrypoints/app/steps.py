"""A page as numbered steps: one tab per step, the step to do now first, the rest beside it."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

CHECK_STEP = "Knowledge check"


def step_labels(steps: Sequence[str]) -> list[str]:
    """``["Set up", ...]`` as the tabs read: ``["1. Set up", ...]``."""
    return [f"{number}. {name}" for number, name in enumerate(steps, start=1)]


def lab_steps(steps: Sequence[str]) -> Sequence[DeltaGenerator]:
    """One tab per step, numbered in the order they are done; the first is open on arrival.

    The key is the page's own (its steps), so arriving from another page never reopens the
    step that page had open.
    """
    labels = step_labels(steps)
    return st.tabs(labels, default=labels[0], key="lab_steps:" + "/".join(steps))


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
