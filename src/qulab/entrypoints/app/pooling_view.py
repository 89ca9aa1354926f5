"""Page 2's experiments: pooled against a fresh connection per request, and pool exhaustion."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from qulab.core import Database, PoolExhausted, is_sqlite_memory
from qulab.entrypoints.app import runtime
from qulab.entrypoints.app.context import LabContext
from qulab.entrypoints.app.demo_data import POOL_MARKER, POOL_USERS, pool_request_users
from qulab.entrypoints.app.feedback import SCHEMA_CHECK_TIMEOUT, attempt, friendly_message
from qulab.entrypoints.app.pool_timeline_view import render_pool_timeline
from qulab.entrypoints.app.schema import schema_status
from qulab.entrypoints.app.step_marks import mark_step
from qulab.entrypoints.app.steps import value_axis
from qulab.lab import ExhaustionResult, LoadRun, PoolingComparison
from qulab.lab.pooling import compare_pooling, demonstrate_pool_exhaustion

RESULT_KEY = "pooling_result"
EXHAUSTION_KEY = "exhaustion_result"
SETUP_LABEL = "Initialize Database & Create Sample Users"
RUN_LABEL = "Run Pooling Experiment"
EXHAUST_LABEL = "Run Pool Exhaustion Demo"
MAX_K = 100
MAX_REQUESTS = 2000

EXHAUST_POOL_SIZE = 2
EXHAUST_OVERFLOW = 0
EXHAUST_HOLDERS = 5
EXHAUST_TIMEOUT = 0.5


def _schema_ready(db: Database) -> bool:
    """Quietly: is the schema there? (the setup section above already says what to do)."""
    try:
        return runtime.run(schema_status(db), timeout=SCHEMA_CHECK_TIMEOUT).ready
    except Exception:
        return False


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


POOLED_LABEL = "pooled"
NULL_POOL_LABEL = "NullPool"


def run_rows(result: PoolingComparison) -> pd.DataFrame:
    """One column per mode, one row per measured quantity (as text, as the page shows it)."""

    def column(run: LoadRun) -> dict[str, str]:
        overflow = run.overflow_used
        return {
            "requests": str(run.requests),
            "concurrency K": str(run.concurrency),
            "total time (s)": f"{run.total_s:.4f}",
            "Θ (requests/s)": f"{run.throughput:.1f}",
            "p50 latency (ms)": _ms(run.p50_s),
            "p95 latency (ms)": _ms(run.p95_s),
            "connections opened": str(run.connects),
            "peak checked out": str(run.peak_checked_out),
            "overflow used": "n/a (no pool)" if overflow is None else str(overflow),
        }

    frame = pd.DataFrame(
        {POOLED_LABEL: column(result.pooled), NULL_POOL_LABEL: column(result.null_pool)}
    )
    frame.index.name = "measured"
    return frame


def _show_comparison(result: PoolingComparison) -> None:
    pooled, fresh = result.pooled, result.null_pool
    st.caption(
        f"{result.database}: {pooled.requests} requests per mode at K = {pooled.concurrency}, "
        f"each reading one user and their latest score in its own session."
    )
    left, right, ratio = st.columns(3)
    left.metric("Θ pooled (requests/s)", f"{pooled.throughput:.1f}")
    right.metric("Θ NullPool (requests/s)", f"{fresh.throughput:.1f}")
    ratio.metric("Pooled / NullPool", f"{result.throughput_ratio:.2f}x")
    st.latex(
        rf"\Theta_{{\text{{pooled}}}} = \frac{{{pooled.requests}}}{{{pooled.total_s:.4f}\,"
        rf"\text{{s}}}} = {pooled.throughput:.1f}\ \text{{req/s}} \qquad "
        rf"\Theta_{{\text{{NullPool}}}} = \frac{{{fresh.requests}}}{{{fresh.total_s:.4f}\,"
        rf"\text{{s}}}} = {fresh.throughput:.1f}\ \text{{req/s}}"
    )
    left, right = st.columns([3, 2])
    left.dataframe(run_rows(result), width="stretch")
    throughput = pd.DataFrame(
        {
            "mode": [POOLED_LABEL, NULL_POOL_LABEL],
            "Θ (requests/s)": [pooled.throughput, fresh.throughput],
        }
    )
    with right:
        st.markdown("**Throughput Θ (requests/s)**")
        chart = (
            alt.Chart(throughput)
            .mark_bar()
            .encode(
                x=alt.X("mode:N", title="mode", sort=None, axis=alt.Axis(labelAngle=0)),
                y=alt.Y("Θ (requests/s):Q", axis=value_axis("requests/s")),
                tooltip=["mode", alt.Tooltip("Θ (requests/s):Q", format=".1f")],
            )
            .properties(height=300)
        )
        st.altair_chart(chart, width="stretch")
    st.caption(
        "NullPool opens (and closes) a connection for every request, so its connections opened "
        "equals the number of requests; the pool reuses a few. Overflow used is the peak "
        "checked out beyond pool_size."
    )
    render_pool_timeline(result)


def render_pooling_experiment(context: LabContext) -> None:
    db, settings = context.db, context.settings
    st.subheader("Pooling experiment: pooled vs a fresh connection per request")
    st.markdown(
        "The same request (open a session, read a user and their latest score, close) runs "
        "through the configured pool and through `NullPool`, which opens a new connection for "
        "each request. K requests run at once; each mode first serves K untimed requests so "
        "the pool is warm, as on a running server. The requests read "
        f"{POOL_USERS} users seeded under the marker `{POOL_MARKER}` (created on the first run; "
        f"`qulab seed --clear --marker {POOL_MARKER}` removes them)."
    )
    if not _schema_ready(db):
        st.info(
            f"Initialise the database in step 1 first (“{SETUP_LABEL}”): the requests read users.",
            icon=":material/info:",
        )
        return
    left, right = st.columns(2)
    concurrency = int(
        left.number_input(
            "Concurrent requests (K)", min_value=1, max_value=MAX_K, value=10, key="pool_k"
        )
    )
    requests = int(
        right.number_input(
            "Requests per mode",
            min_value=1,
            max_value=MAX_REQUESTS,
            value=200,
            step=50,
            key="pool_requests",
        )
    )
    if st.button(RUN_LABEL, type="primary", icon=":material/speed:", key="run_pooling"):
        with st.spinner(f"Running {requests} requests per mode at K = {concurrency}..."):

            async def work() -> PoolingComparison:
                ids = await pool_request_users(db)
                return await compare_pooling(
                    settings, ids, concurrency=concurrency, requests=requests
                )

            result = attempt(db, work)
        if result is not None:
            st.session_state[RESULT_KEY] = result
            mark_step("connectivity", "Pooling experiment")
    shown = st.session_state.get(RESULT_KEY)
    if isinstance(shown, PoolingComparison):
        _show_comparison(shown)


def failed_holders_message(result: ExhaustionResult) -> str | None:
    """Which holders timed out and the pool's own message, or None when none did."""
    failed = [o for o in result.outcomes if not o.acquired]
    if not failed:
        return None
    holders = ", ".join(f"#{o.index + 1}" for o in failed)
    longest = max(o.waited_s for o in failed)
    error = PoolExhausted(result.error or "pool exhausted")
    return (
        f"{len(failed)} of {result.holders} holders ({holders}) gave up after waiting "
        f"{longest:.2f} s. {friendly_message(error)}"
    )


def _show_exhaustion(result: ExhaustionResult) -> None:
    first, second, third = st.columns(3)
    first.metric("Holders", result.holders)
    second.metric("Got a connection", result.acquired)
    third.metric("Timed out", result.timed_out)
    message = failed_holders_message(result)
    if message is not None:  # the pool's message, whole (each holder that timed out got it)
        st.error(message, icon=":material/hourglass_disabled:")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "holder": f"#{o.index + 1}",
                    "outcome": "got a connection" if o.acquired else "timed out",
                    "waited (ms)": _ms(o.waited_s),
                }
                for o in result.outcomes
            ]
        ),
        hide_index=True,
        width="stretch",
    )


def render_pool_exhaustion(context: LabContext) -> None:
    db, settings = context.db, context.settings
    st.subheader("Pool exhaustion")
    st.markdown(
        f"A separate engine with `pool_size={EXHAUST_POOL_SIZE}`, "
        f"`max_overflow={EXHAUST_OVERFLOW}` and `pool_timeout={EXHAUST_TIMEOUT:g}` s. "
        f"{EXHAUST_HOLDERS} requests each try to hold a connection at the same time: two get "
        "one and keep it, the others wait for the timeout and then fail with a clear error "
        "instead of hanging. Nothing is written."
    )
    if is_sqlite_memory(settings.database.url):
        st.info(
            "An in-memory SQLite database shares one connection and has no pool to exhaust: "
            "point QULAB_DATABASE_URL at a SQLite file or PostgreSQL to run this."
        )
        return
    if st.button(EXHAUST_LABEL, icon=":material/block:", key="run_exhaustion"):
        with st.spinner(f"{EXHAUST_HOLDERS} holders against a pool of {EXHAUST_POOL_SIZE}..."):
            result = attempt(
                db,
                lambda: demonstrate_pool_exhaustion(
                    settings,
                    pool_size=EXHAUST_POOL_SIZE,
                    max_overflow=EXHAUST_OVERFLOW,
                    holders=EXHAUST_HOLDERS,
                    pool_timeout=EXHAUST_TIMEOUT,
                ),
            )
        if result is not None:
            mark_step("connectivity", "Pool exhaustion")
            st.session_state[EXHAUSTION_KEY] = result
    shown = st.session_state.get(EXHAUSTION_KEY)
    if isinstance(shown, ExhaustionResult):
        _show_exhaustion(shown)
