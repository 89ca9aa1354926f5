"""6. Scaling out: a primary and its read replicas, read-your-writes, and the cache guard."""

from __future__ import annotations

import streamlit as st

from qulab.entrypoints.app.checks_view import render_checks
from qulab.entrypoints.app.context import lab_context
from qulab.entrypoints.app.feedback import require_schema
from qulab.entrypoints.app.scaling_view import (
    cache_guard,
    current_cache,
    needs_replicas,
    read_your_writes,
    servers,
)
from qulab.entrypoints.app.steps import CHECK_STEP, lab_steps, needs_step

STEPS = ("The servers", "Read your writes", "The cache guard", CHECK_STEP)
PAGE = "scaling"
EXPLAINS = ("The servers",)  # a live table: done once a later step is


def render() -> None:
    context = lab_context()
    st.title("6. Scaling out with read replicas")
    first, reads, guard, check = lab_steps(STEPS, page=PAGE, explains=EXPLAINS)
    with first:
        ready = not needs_replicas(context) and require_schema(context.db)
        if ready:
            servers(context)
    if ready:
        with reads:
            read_your_writes(context)
        with guard:
            cache_guard(context, current_cache(context))
    else:
        for tab in (reads, guard):
            with tab:
                needs_step(1, STEPS[0])
    with check:
        render_checks(PAGE)


if __name__ == "__main__":
    render()
