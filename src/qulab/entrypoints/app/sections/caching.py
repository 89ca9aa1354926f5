"""4. Caching with Redis: read-through fetches, HIT or MISS as the cache reports it, measured."""

from __future__ import annotations

import streamlit as st

from qulab.core import Database
from qulab.core.cache import Cache
from qulab.entrypoints.app.cache_burst_view import (
    clear_history,
    render_access_times,
    render_fetch_bursts,
    render_latency_chart,
)
from qulab.entrypoints.app.cache_resource import backend_label, lab_cache
from qulab.entrypoints.app.checks_view import render_checks
from qulab.entrypoints.app.context import lab_context
from qulab.entrypoints.app.demo_data import CacheDemo, add_demo_score, prepare_cache_demo
from qulab.entrypoints.app.feedback import attempt, require_schema
from qulab.entrypoints.app.literal import literal
from qulab.entrypoints.app.navigation import CONNECTIVITY
from qulab.entrypoints.app.redis_view import render_redis_view
from qulab.entrypoints.app.step_marks import mark_step
from qulab.entrypoints.app.steps import CHECK_STEP, lab_steps, needs_step
from qulab.entrypoints.app.strategies_view import render_strategies
from qulab.platform import (
    CachedUserRepository,
    UpdateUser,
    parse,
    uow_factory,
    update_user,
    user_family,
    user_keys,
)

INVALIDATE_LABEL = "Invalidate Cache for this User"
UPDATE_LABEL = "Update name"
RESET_STATS_LABEL = "Reset Statistics"
ADD_SCORE_LABEL = "Add a sample score"


def _intro() -> None:
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
        "$T_{\\text{cache}}$ is the mean time of a hit; a miss looks in the cache first, then "
        "pays $T_{\\text{database}}$ on top (the database read and the store: the mean miss "
        "minus the mean hit). Both are measured in step 4 from the fetches of step 2. Without "
        "QULAB_REDIS_URL the same code runs on a bounded in-process TTL/LRU store."
    )


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
            keys = ", ".join(f"`{key}`" for key in user_keys(cache, user_id))
            st.success(
                f"Cache invalidated for user ID {user_id}: {keys}.",
                icon=":material/delete_sweep:",
            )
            mark_step(PAGE, "Invalidate")

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
                f"`{cache.key(user_family(cache), user_id)}`, so the next fetch is a MISS with the "
                "new name.",
                icon=":material/edit:",
            )


def _metrics(db: Database, cache: Cache) -> None:
    st.subheader("Cache metrics (measured)")
    if st.button(RESET_STATS_LABEL, key="reset_cache_stats"):
        attempt(db, cache.reset_stats)
        clear_history()
    snapshot = attempt(db, cache.stats)
    counted = None
    if snapshot is not None:
        total = snapshot.total
        counted = (
            f"The cache layer's own counters (hits {total.hits}, misses {total.misses}; "
            f"{snapshot.scope}) include reads made elsewhere."
        )
    render_access_times(counted)


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


def _offer_a_score(db: Database, demo: CacheDemo) -> CacheDemo:
    """Opening the page writes nothing: a score for the demo is added only when asked."""
    st.info(
        f"{literal(demo.user.name)} has no AI-R score yet: add a sample score to see the "
        "latest-score fetches served from the cache too.",
        icon=":material/add_chart:",
    )
    if not st.button(ADD_SCORE_LABEL, key="add_sample_score"):
        return demo
    scored = attempt(db, lambda: add_demo_score(db, demo))
    if scored is None:
        return demo
    st.success(f"One sample score was added for {literal(demo.user.name)}.")
    return scored


async def _prepared(db: Database) -> tuple[CacheDemo | None]:
    return (await prepare_cache_demo(db),)


STEPS = (
    "The idea",
    "Fetch through the cache",
    "Invalidate",
    "Measure",
    "Compare strategies",
    "What is in Redis",
    CHECK_STEP,
)
PAGE = "caching"
EXPLAINS = ("The idea", "Measure", "What is in Redis")  # steps with no action of their own


def _fetch_step(db: Database, cache: Cache) -> tuple[bool, CacheDemo | None]:
    """Step 2: the demo user fetched through the cache. Returns (page usable, the demo)."""
    st.subheader("Interactive caching demonstration")
    prepared = attempt(db, lambda: _prepared(db))
    if prepared is None:
        return False, None
    demo = prepared[0]
    if demo is None:
        st.info(
            "The sample user Alex Smith does not exist yet: create the sample users on page 2.",
            icon=":material/person_off:",
        )
        st.page_link(
            str(CONNECTIVITY.path), label=f"Go to {CONNECTIVITY.title}", icon=CONNECTIVITY.icon
        )
        return True, None
    if demo.latest_score is None:
        demo = _offer_a_score(db, demo)
    score = demo.latest_score
    st.markdown(
        f"Using **{literal(demo.user.name)}** (User ID `{demo.user.id}`); "
        + (
            "no AI-R score yet."
            if score is None
            else f"latest AI-R score ID `{score.id}` ({score.air_score:g})."
        )
    )
    render_fetch_bursts(db, cache, demo.user.id)
    return True, demo


def render() -> None:
    context = lab_context()
    db = context.db
    st.title("4. Read-through caching with Redis")
    idea, fetch, invalidate, measure, strategies, redis, check = lab_steps(
        STEPS, page=PAGE, explains=EXPLAINS
    )
    with idea:
        _intro()
    usable, demo = False, None
    with fetch:
        if require_schema(db):
            cache = lab_cache(context.settings, db)
            usable, demo = _fetch_step(db, cache)
    with invalidate:
        if demo is not None:
            _invalidation(db, cache, demo)
        else:
            needs_step(2, STEPS[1])
    with measure:
        if demo is not None:
            _metrics(db, cache)
            render_latency_chart()
            _status(db, cache)
        else:
            needs_step(2, STEPS[1])
    with strategies:
        if usable:
            render_strategies(context.settings, db)
        else:
            needs_step(2, STEPS[1])
    with redis:
        render_redis_view()
    with check:
        render_checks(PAGE)


if __name__ == "__main__":
    render()
