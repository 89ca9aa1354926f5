"""Page 4: fetch buttons that measure a burst, and the figures computed from those samples.

Every fetch of a burst is kept in the session's history; the metrics, the T_avg formula and the
latency chart (log scale, so a 0.1 ms hit shows next to a 90 ms miss) all read that history.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from qulab.core import Database
from qulab.core.cache import Cache, Outcome
from qulab.entrypoints.app.feedback import attempt
from qulab.entrypoints.app.step_marks import mark_step
from qulab.entrypoints.app.steps import value_axis
from qulab.lab.cache_burst import BURST_SIZE, AccessTimes, Burst, Sample, access_times, fetch_burst
from qulab.platform import read_latest_score_cached, read_user_cached

FETCH_USER_LABEL = f"Fetch User (Cached) x{BURST_SIZE}"
FETCH_SCORE_LABEL = f"Fetch Latest AIRScore (Cached) x{BURST_SIZE}"
HISTORY_KEY = "cache_fetches"
HISTORY_SIZE = 10 * BURST_SIZE
OUTCOME_COLOURS = ["#2a9d8f", "#e76f51", "#8d99ae"]  # HIT, MISS, BYPASS
NOT_MEASURED = "not measured yet"
T_DATABASE_LABEL = "T_database (ms, mean miss - mean hit)"


def history() -> list[Sample]:
    samples: list[Sample] = st.session_state.setdefault(HISTORY_KEY, [])
    return samples


def clear_history() -> None:
    st.session_state.pop(HISTORY_KEY, None)


def _record(burst: Burst) -> None:
    samples = history()
    samples.extend(burst.samples)
    del samples[:-HISTORY_SIZE]
    mark_step("caching", "Fetch through the cache")


def _counts(burst: Burst) -> str:
    parts = [f"{burst.count(outcome)} {outcome}" for outcome in Outcome if burst.count(outcome)]
    return ", ".join(parts)


def _show_burst(what: str, burst: Burst) -> None:
    first = burst.samples[0].outcome
    summary = (
        f"Cache {first} on the first fetch; {len(burst.samples)} fetches of the {what}: "
        f"{_counts(burst)}. Median {burst.median_s * 1000:.3f} ms, "
        f"p95 {burst.p95_s * 1000:.3f} ms (key `{burst.last.key}`)."
    )
    if burst.count(Outcome.BYPASS):
        st.info(
            summary + " BYPASS: the cache did not answer, so the database served these. Check "
            "that Redis is running at QULAB_REDIS_URL.",
            icon=":material/cloud_off:",
        )
    elif burst.count(Outcome.MISS):
        st.warning(summary, icon=":material/database:")
    else:
        st.success(summary, icon=":material/bolt:")
    value = burst.last.value
    if value is None:
        st.warning(f"No {what} found.")
    else:
        st.json(value.model_dump(mode="json"), expanded=True)


def render_fetch_bursts(db: Database, cache: Cache, user_id: str) -> None:
    """The two fetch buttons; each runs BURST_SIZE read-through fetches in a row."""
    st.caption(
        f"Each button fetches {BURST_SIZE} times in a row: after an invalidation the first is a "
        "MISS (loaded from the database and stored), the rest are HITs. One fetch is too few "
        "to measure a latency; a burst gives a median and a p95."
    )
    left, right = st.columns(2)
    with left:
        if st.button(FETCH_USER_LABEL, type="primary", key="fetch_user_cached"):
            burst = attempt(
                db, lambda: fetch_burst("user", lambda: read_user_cached(db, cache, user_id))
            )
            if burst is not None:
                _record(burst)
                _show_burst("user profile", burst)
    with right:
        if st.button(FETCH_SCORE_LABEL, type="primary", key="fetch_score_cached"):
            burst = attempt(
                db,
                lambda: fetch_burst(
                    "latest score", lambda: read_latest_score_cached(db, cache, user_id)
                ),
            )
            if burst is not None:
                _record(burst)
                _show_burst("latest AI-R score", burst)


def _ms(seconds: float | None) -> str:
    return NOT_MEASURED if seconds is None else f"{seconds * 1000:.3f}"


def formula_latex(what: str, times: AccessTimes) -> str | None:
    """T_avg with the measured values substituted, or None before a hit and a miss."""
    h, t_cache, t_db, t_avg = times.hit_ratio, times.t_cache_s, times.t_database_s, times.t_avg_s
    if h is None or t_cache is None or t_db is None or t_avg is None:
        return None
    return (
        rf"T_{{\text{{avg}}}}^{{\text{{{what}}}}} = {h:.3f} \times {t_cache * 1000:.3f} + "
        rf"(1 - {h:.3f}) \times ({t_cache * 1000:.3f} + {t_db * 1000:.3f}) = "
        rf"{t_avg * 1000:.3f}\ \text{{ms}}"
    )


def _times_row(what: str, times: AccessTimes) -> dict[str, Any]:
    return {
        "fetched": what,
        "hits": times.hits,
        "misses": times.misses,
        "H": "n/a" if times.hit_ratio is None else f"{times.hit_ratio:.3f}",
        "T_cache (ms)": _ms(times.t_cache_s),
        "T_database (ms)": _ms(times.t_database_s),
        "T_avg (ms)": _ms(times.t_avg_s),
    }


def render_access_times(cache_counts: str | None) -> None:
    """Hits, misses, H, T_cache, T_database and T_avg from the fetches in the history."""
    samples = history()
    overall = access_times(samples)
    columns = st.columns(4)
    columns[0].metric("Cache hits", overall.hits)
    columns[1].metric("Cache misses", overall.misses)
    columns[2].metric("Fetches measured", len(samples))
    columns[3].metric(
        "Hit ratio H", "n/a" if overall.hit_ratio is None else f"{overall.hit_ratio:.3f}"
    )
    times = st.columns(3)
    times[0].metric("T_cache (ms, mean hit)", _ms(overall.t_cache_s))
    times[1].metric(T_DATABASE_LABEL, _ms(overall.t_database_s))
    times[2].metric("T_avg (ms)", _ms(overall.t_avg_s))
    st.caption(
        "From the fetches listed below (this session): T_cache is the mean time of a hit, "
        "T_database what a miss adds to it (mean miss - mean hit: the database read and the "
        "store), and T_avg = H*T_cache + (1 - H)*(T_cache + T_database): a miss looks in the "
        "cache first." + (f" {cache_counts}" if cache_counts else "")
    )
    by_what = {
        what: access_times([s for s in samples if s.what == what]) for what in _order(samples)
    }
    if by_what:
        st.dataframe(
            pd.DataFrame([_times_row(what, times) for what, times in by_what.items()]),
            hide_index=True,
            width="stretch",
        )
    formulas = [text for what, times in by_what.items() if (text := formula_latex(what, times))]
    for text in formulas:
        st.latex(text)
    if overall.misses == 0 and samples:
        st.info(
            "No miss measured yet, so T_database is unknown (not 0): invalidate the cache and "
            "fetch again.",
            icon=":material/info:",
        )
    elif not formulas:
        st.caption("T_avg needs at least one hit and one miss of the same fetch.")


def _order(samples: list[Sample]) -> list[str]:
    return list(dict.fromkeys(sample.what for sample in samples))


def render_latency_chart() -> None:
    samples = history()
    st.subheader("Latency of recent fetches")
    if not samples:
        st.caption("Fetch a few times to see hits and misses side by side.")
        return
    frame = pd.DataFrame(
        [
            {
                "fetch": number,
                "what": sample.what,
                "outcome": sample.outcome,
                "ms": round(sample.seconds * 1000, 4),
            }
            for number, sample in enumerate(samples, start=1)
        ]
    )
    outcomes = [str(outcome) for outcome in Outcome]
    chart = (
        alt.Chart(frame)
        .mark_point(filled=True, size=60)
        .encode(
            x=alt.X("fetch:Q", title="fetch (this session, oldest first)"),
            y=alt.Y(
                "ms:Q", axis=value_axis("milliseconds (log scale)"), scale=alt.Scale(type="log")
            ),
            color=alt.Color("outcome:N", scale=alt.Scale(domain=outcomes, range=OUTCOME_COLOURS)),
            tooltip=["fetch", "what", "outcome", "ms"],
        )
        .properties(height=260)
    )
    st.altair_chart(chart, width="stretch")
    st.dataframe(
        frame[["fetch", "what", "outcome", "ms"]].iloc[::-1], hide_index=True, width="stretch"
    )
