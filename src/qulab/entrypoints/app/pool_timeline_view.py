"""Page 2: the experiment's own pool over its run, checked out and overflow as series.

The series come from the pool's checkout and checkin events during the measured run (not a
snapshot taken after it), thinned to at most ``MAX_POINTS`` per mode by keeping the highest
value in each time slice so no peak is lost.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from qulab.entrypoints.app.steps import value_axis
from qulab.lab import LoadRun, PoolingComparison

MAX_POINTS = 400


def timeline_frame(run: LoadRun, max_points: int = MAX_POINTS) -> pd.DataFrame:
    """``ms``, ``checked out`` and ``overflow`` for one run, at most ``max_points`` rows."""
    if not run.timeline:
        return pd.DataFrame(columns=["mode", "ms", "checked out", "overflow"])
    frame = pd.DataFrame(run.timeline, columns=["s", "checked out"])
    frame["ms"] = frame["s"] * 1000
    if len(frame) > max_points:
        end = float(frame["ms"].max()) or 1.0
        frame["slice"] = (frame["ms"] / end * (max_points - 1)).astype(int)
        frame = frame.groupby("slice", as_index=False).agg({"ms": "first", "checked out": "max"})
    size = run.pool_size
    frame["overflow"] = (frame["checked out"] - size).clip(lower=0) if size is not None else 0
    frame["mode"] = run.mode
    return frame[["mode", "ms", "checked out", "overflow"]].reset_index(drop=True)


def render_pool_timeline(result: PoolingComparison) -> None:
    pooled = result.pooled
    frame = pd.concat(
        [timeline_frame(result.pooled), timeline_frame(result.null_pool)], ignore_index=True
    )
    st.markdown("**Connections checked out during the run**")
    if frame.empty:
        st.caption("The run recorded no checkouts.")
        return
    lines = (
        alt.Chart(frame)
        .mark_line(interpolate="step-after")
        .encode(
            x=alt.X("ms:Q", title="milliseconds into the run"),
            y=alt.Y("checked out:Q", axis=value_axis("connections checked out")),
            color=alt.Color("mode:N", scale=alt.Scale(range=["#2e86ab", "#d1495b"])),
            tooltip=["mode", "ms", "checked out", "overflow"],
        )
    )
    layers: list[alt.Chart] = [lines]
    if pooled.pool_size is not None:
        limits = pd.DataFrame(
            {
                "limit": ["pool_size", "pool_size + max_overflow"],
                "connections": [pooled.pool_size, pooled.pool_size + (pooled.max_overflow or 0)],
            }
        )
        layers.append(
            alt.Chart(limits)
            .mark_rule(strokeDash=[4, 4], color="#5b6b82")
            .encode(y="connections:Q", tooltip=["limit", "connections"])
        )
    st.altair_chart(alt.layer(*layers).properties(height=260), width="stretch")
    peak_overflow = int(frame[frame["mode"] == pooled.mode]["overflow"].max())
    st.caption(
        f"Sampled at every checkout and checkin of the experiment's own engines: the pooled run "
        f"peaked at {pooled.peak_checked_out} checked out (overflow {peak_overflow}), NullPool "
        f"at {result.null_pool.peak_checked_out}. Dashed: pool_size and pool_size + "
        "max_overflow."
    )
