"""4. Caching with Redis: read-through fetches, HIT or MISS as the cache reports it, measured."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from qulab.adapters.cache import (
    Cache,
    CachedUserRepository,
    CacheResult,
    FamilyStats,
    Outcome,
    read_latest_score_cached,
    read_user_cached,
)
from qulab.adapters.db import Database
from qulab.adapters.uow import uow_factory
from qulab.domain.schemas import UpdateUser, parse
from qulab.entrypoints.app.cache_resource import backend_label, lab_cache
from qulab.entrypoints.app.checks_view import render_checks
from qulab.entrypoints.app.context import lab_context
from qulab.entrypoints.app.demo_data import CacheDemo, prepare_cache_demo
from qulab.entrypoints.app.feedback import attempt, require_schema
from qulab.entrypoints.app.literal import literal
from qulab.entrypoints.app.navigation import CONNECTIVITY
from qulab.entrypoints.app.redis_view import render_redis_view
from qulab.entrypoints.app.strategies_view import render_strategies
from qulab.services.users import update_user

FETCH_USER_LABEL = "Fetch User (Cached)"
FETCH_SCORE_LABEL = "Fetch Latest AIRScore (Cached)"
INVALIDATE_LABEL = "Invalidate Cache for this User"
UPDATE_LABEL = "Update name"
RESET_STATS_LABEL = "Reset Statistics"
HISTORY_KEY = "cache_fetches"
HISTORY_SIZE = 50
OUTCOME_COLOURS = ["#2a9d8f", "#e76f51", "#8d99ae"]  # HIT, MISS, BYPASS


def _intro() -> None:
    st.title("4. Read-through caching with Redis")
    st.markdown(
        "Profiles and latest scores are read on every dashboard load and change rarely. Alex "
        "puts a **read-through cache** in front of them: a read looks in the cache first; on a "
        "hit the value comes straight back, on a miss it is loaded from the database, stored "
        "and returned. Writes go to the database, and the unit of work drops the user's cached "
        "entries once the transaction has committed, so a reader never gets a value older than "
        "the last commit for longer than that moment."
    )
    st.markdown("The cache hit ratio and the average access time it buys:")
    st.latex(r"H = \frac{\text{cache hits}}{\text{total requests}}")
    st.latex(
        r"T_{\text{avg}} = H \times T_{\text{cache}} + (1 - H) \times "
        r"(T_{\text{cache}} + T_{\text{database}})"
    )
    st.markdown(
        "$T_{\\text{cache}}$ is the mean time of a hit and $T_{\\text{database}}$ what a miss "
        "costs on top of the cache lookup; both are measured below from the real fetches. "
        "Without QULAB_REDIS_URL the same code runs on a bounded in-process TTL/LRU store."
    )


def _record(what: str, result: CacheResult[Any]) -> None:
    history: list[dict[str, Any]] = st.session_state.setdefault(HISTORY_KEY, [])
    number = history[-1]["fetch"] + 1 if history else 1
    history.append(
        {
            "fetch": number,
            "what": what,
            "outcome": str(result.outcome),
            "ms": round(result.seconds * 1000, 3),
        }
    )
    del history[:-HISTORY_SIZE]


def _show_result(what: str, result: CacheResult[Any]) -> None:
    ms = result.seconds * 1000
    if result.outcome is Outcome.HIT:
        st.success(
            f"Cache HIT: {what} served from the cache in {ms:.3f} ms (key `{result.key}`).",
            icon=":material/bolt:",
        )
    elif result.outcome is Outcome.MISS:
        st.warning(
            f"Cache MISS: {what} loaded from the database and stored in {ms:.3f} ms "
            f"(key `{result.key}`).",
            icon=":material/database:",
        )
    else:
        st.info(
            f"Cache BYPASS: the cache did not answer, so the database served the {what} in "
            f"{ms:.3f} ms. Check that Redis is running at QULAB_REDIS_URL.",
            icon=":material/cloud_off:",
        )
    if result.value is None:
        st.warning(f"No {what} found.")
    else:
        st.json(result.value.model_dump(mode="json"), expanded=True)


def _fetch_buttons(db: Database, cache: Cache, user_id: str) -> None:
    left, right = st.columns(2)
    with left:
        if st.button(FETCH_USER_LABEL, type="primary", key="fetch_user_cached"):
            result = attempt(db, lambda: read_user_cached(db, cache, user_id))
            if result is not None:
                _record("user", result)
                _show_result("user profile", result)
    with right:
        if st.button(FETCH_SCORE_LABEL, type="primary", key="fetch_score_cached"):
            score = attempt(db, lambda: read_latest_score_cached(db, cache, user_id))
            if score is not None:
                _record("latest score", score)
                _show_result("latest AI-R score", score)


def _invalidation(db: Database, cache: Cache, demo: CacheDemo) -> None:
    user_id = demo.user.id
    st.subheader("Cache invalidation")
    st.markdown(
        "When the data changes the cached copy is stale. The button below drops this user's "
        "entries by hand (`invalidate_user_cache`); the next fetch is a MISS."
    )
    if st.button(INVALIDATE_LABEL, key="invalidate_cache"):

        async def invalidate() -> bool:
            async with db.session() as session:
                await CachedUserRepository(session, cache).invalidate_user_cache(user_id)
            return not cache.pending_invalidations

        done = attempt(db, invalidate)
        if done is None:
            pass
        elif not done:
            st.warning(
                "The cache did not answer: the invalidation is remembered and applied before "
                "the next read that reaches it.",
                icon=":material/cloud_off:",
            )
        else:
            keys = ", ".join(f"`{key}`" for key in cache.user_keys(user_id))
            st.success(
                f"Cache invalidated for user ID {user_id}: {keys}.",
                icon=":material/delete_sweep:",
            )

    st.markdown(
        "Usually nobody has to remember: a write through the unit of work invalidates after "
        "its commit. Rename the user and fetch again: a MISS that loads the new name."
    )
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    new_name = left.text_input("New name", value=demo.user.name, key="cache_new_name")
    if right.button(UPDATE_LABEL, key="update_name"):
        updated = attempt(
            db,
            lambda: update_user(parse(UpdateUser, user_id=user_id, name=new_name), uow_factory(db)),
        )
        if updated is not None:
            st.success(
                f"Name updated to '{literal(updated.name)}' and committed; the commit invalidated "
                f"`{cache.key(cache.users, user_id)}`, so the next fetch is a MISS with the "
                "new name.",
                icon=":material/edit:",
            )


def _family_rows(families: dict[str, FamilyStats]) -> pd.DataFrame:
    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value * 1000:.3f}"

    return pd.DataFrame(
        [
            {
                "key family": name,
                "hits": stats.hits,
                "misses": stats.misses,
                "H": "n/a" if stats.hit_ratio is None else f"{stats.hit_ratio:.2f}",
                "T_cache (ms)": ms(stats.t_cache_s),
                "T_database (ms)": ms(stats.t_database_s),
                "T_avg formula (ms)": ms(stats.t_avg_formula_s),
                "T_avg measured (ms)": ms(stats.t_avg_measured_s),
            }
            for name, stats in families.items()
        ]
    )


def formula_latex(stats: FamilyStats) -> str | None:
    """T_avg with this family's measured numbers substituted, or None before hit and miss."""
    if stats.hit_ratio is None or stats.t_cache_s is None or stats.t_database_s is None:
        return None
    assert stats.t_avg_formula_s is not None
    h, t_cache, t_db = stats.hit_ratio, stats.t_cache_s * 1000, stats.t_database_s * 1000
    family = stats.family.replace("_", r"\_")
    return (
        rf"T_{{\text{{avg}}}}^{{\text{{{family}}}}} = {h:.2f} \times {t_cache:.3f} + "
        rf"(1 - {h:.2f}) \times ({t_cache:.3f} + {t_db:.3f}) = "
        rf"{stats.t_avg_formula_s * 1000:.3f}\ \text{{ms}}"
    )


def _metrics(db: Database, cache: Cache) -> None:
    st.subheader("Cache metrics (measured)")
    if st.button(RESET_STATS_LABEL, key="reset_cache_stats"):
        attempt(db, cache.reset_stats)
        st.session_state.pop(HISTORY_KEY, None)
    snapshot = attempt(db, cache.stats)
    if snapshot is None:
        return
    total = snapshot.total
    columns = st.columns(4)
    columns[0].metric("Cache hits", total.hits)
    columns[1].metric("Cache misses", total.misses)
    columns[2].metric("Total requests", total.requests)
    columns[3].metric("Hit ratio H", "n/a" if total.hit_ratio is None else f"{total.hit_ratio:.2f}")
    st.caption(
        f"Counted by the cache layer ({snapshot.scope}). T_cache is the mean hit time, "
        "T_database the mean miss time minus T_cache."
    )
    st.dataframe(_family_rows(snapshot.families), hide_index=True, width="stretch")
    formulas = [text for s in snapshot.families.values() if (text := formula_latex(s))]
    for text in formulas:
        st.latex(text)
    if not formulas:
        st.caption("T_avg needs at least one hit and one miss of a key family: fetch twice.")


def _latency_chart() -> None:
    history: list[dict[str, Any]] = st.session_state.get(HISTORY_KEY, [])
    st.subheader("Latency of recent fetches")
    if not history:
        st.caption("Fetch a few times to see hits and misses side by side.")
        return
    frame = pd.DataFrame(history)
    outcomes = [str(outcome) for outcome in Outcome]
    chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X(
                "fetch:O", title="fetch (this session, oldest first)", axis=alt.Axis(labelAngle=0)
            ),
            y=alt.Y("ms:Q", title="milliseconds"),
            color=alt.Color("outcome:N", scale=alt.Scale(domain=outcomes, range=OUTCOME_COLOURS)),
            tooltip=["fetch", "what", "outcome", "ms"],
        )
        .properties(height=260)
    )
    st.altair_chart(chart, width="stretch")
    st.dataframe(
        frame[["fetch", "what", "outcome", "ms"]].iloc[::-1], hide_index=True, width="stretch"
    )


def _status(db: Database, cache: Cache) -> None:
    st.subheader("Cache status")
    status = attempt(db, cache.status)
    if status is None:
        return
    columns = st.columns(4)
    columns[0].metric("Backend", status.backend)
    columns[1].metric("Server version", status.server_version or "n/a")
    columns[2].metric("Connected", "yes" if status.connected else "no")
    columns[3].metric("Circuit breaker", status.breaker_state)
    st.caption(
        f"{backend_label(status)}; key prefix `{status.prefix}`; "
        f"{status.consecutive_failures} consecutive failures"
        + (f"; last error: {status.last_error}" if status.last_error else "")
        + "."
    )


async def _prepared(db: Database) -> tuple[CacheDemo | None]:
    return (await prepare_cache_demo(db),)


def render() -> None:
    context = lab_context()
    db = context.db
    _intro()
    if not require_schema(db):
        return
    cache = lab_cache(context.settings, db)
    st.subheader("Interactive caching demonstration")
    prepared = attempt(db, lambda: _prepared(db))
    if prepared is None:
        return
    demo = prepared[0]
    if demo is None:
        st.info(
            "The sample user Alex Smith does not exist yet: create the sample users on page 2.",
            icon=":material/person_off:",
        )
        st.page_link(
            str(CONNECTIVITY.path), label=f"Go to {CONNECTIVITY.title}", icon=CONNECTIVITY.icon
        )
        render_strategies(context.settings, db)
        return
    if demo.score_created:
        st.info(
            f"{literal(demo.user.name)} had no score yet: one sample score was added for the demo."
        )
    st.markdown(
        f"Using **{literal(demo.user.name)}** (User ID `{demo.user.id}`); latest AI-R score ID "
        f"`{demo.latest_score.id}` ({demo.latest_score.air_score:g})."
    )
    _fetch_buttons(db, cache, demo.user.id)
    _invalidation(db, cache, demo)
    _metrics(db, cache)
    _latency_chart()
    _status(db, cache)
    render_strategies(context.settings, db)


if __name__ == "__main__":
    render()
    render_redis_view()
    render_checks("caching")
