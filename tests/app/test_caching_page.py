"""Page 4: MISS, HIT, invalidate, MISS; a rename invalidates after commit; measured metrics.

Runs on the in-process cache and on the local Redis (a unique key prefix, removed afterwards).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pandas as pd
import pytest
import redis
import streamlit as st
from sqlalchemy import func, inspect, select, table
from streamlit.testing.v1 import AppTest

from qulab.core.db import Database
from qulab.entrypoints.app.cache_burst_view import T_DATABASE_LABEL
from qulab.entrypoints.app.navigation import CACHING, CONNECTIVITY, REPOSITORY
from qulab.entrypoints.app.sections.connectivity import SETUP_LABEL
from qulab.lab import DEMO_USERS
from qulab.lab.cache_burst import BURST_SIZE
from qulab.platform.models import AIRScore, User
from tests import services
from tests.app.helpers import (
    go_to,
    no_exception,
    open_runtime,
    query,
    restart_server,
    texts,
    user_emails,
)
from tests.cache_support import delete_prefix, new_prefix

ALEX_EMAIL = DEMO_USERS[0][0]


@pytest.fixture(params=["memory", "redis"])
def cache_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The in-process cache, or the local Redis under a prefix of this test's own."""
    if request.param == "memory":
        yield "memory"
        return
    redis_url = str(request.getfixturevalue("redis_url"))
    prefix = new_prefix()
    monkeypatch.setenv("QULAB_REDIS_URL", redis_url)
    monkeypatch.setenv("QULAB_CACHE_PREFIX", prefix)
    try:
        yield prefix
    finally:
        st.cache_resource.clear()  # closes the app's cache first: nothing is written after
        asyncio.run(delete_prefix(redis_url, prefix))


def _initialised() -> AppTest:
    at = go_to(open_runtime(), CONNECTIVITY)
    next(b for b in at.button if b.label == SETUP_LABEL).click().run()
    no_exception(at)
    return go_to(at, CACHING)


def _click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run()
    no_exception(at)
    return at


def _outcome(at: AppTest) -> str:
    """HIT, MISS or BYPASS as the page reports the first fetch of this run's burst."""
    shown = [t for t in texts(at.success) + texts(at.warning) + texts(at.info) if "Cache " in t]
    [line] = [t for t in shown if t.startswith(("Cache HIT", "Cache MISS", "Cache BYPASS"))]
    assert f"; {BURST_SIZE} fetches of the " in line and ", p95 " in line
    return line.split(" ")[1]


def _metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: str(metric.value) for metric in at.metric}


def _scores(url: str, user_id: str) -> list[str]:
    async def _read(db: Database) -> list[str]:
        async with db.session() as session:
            rows = await session.scalars(select(AIRScore.id).where(AIRScore.user_id == user_id))
            return list(rows.all())

    return list(query(url, _read))


def _redis_keys(prefix: str) -> set[str]:
    client = redis.Redis.from_url(services.REDIS_URL, decode_responses=True)
    try:
        return {key for key in client.scan_iter(match=f"{prefix}*", count=500)}
    finally:
        client.close()


def test_miss_hit_invalidate_miss_then_a_rename_is_a_miss_with_the_new_name(
    sqlite_url: str, cache_kind: str
) -> None:
    at = _initialised()
    no_exception(at)
    alex_id = user_emails(sqlite_url)[ALEX_EMAIL]
    assert _scores(sqlite_url, alex_id) == []  # opening the page added nothing
    assert texts(at.info)[0].startswith("Alex Smith has no AI-R score yet: add a sample score")
    _click(at, "add_sample_score")
    [score_id] = _scores(sqlite_url, alex_id)
    assert "One sample score was added for Alex Smith." in texts(at.success)
    intro = next(t for t in texts(at.markdown) if t.startswith("Using **"))
    assert intro.startswith(f"Using **Alex Smith** (User ID `{alex_id}`); latest AI-R score ID ")
    assert f"`{score_id}`" in intro

    assert _outcome(_click(at, "fetch_user_cached")) == "MISS"
    assert at.json[0].value and json.loads(at.json[0].value)["id"] == alex_id
    assert _outcome(_click(at, "fetch_user_cached")) == "HIT"
    assert _outcome(_click(at, "fetch_score_cached")) == "MISS"
    assert json.loads(at.json[0].value)["id"] == score_id
    assert _outcome(_click(at, "fetch_score_cached")) == "HIT"
    if cache_kind != "memory":
        assert {f"{cache_kind}user:{alex_id}", f"{cache_kind}latest_airscore:{alex_id}"} <= (
            _redis_keys(cache_kind)
        )

    _click(at, "invalidate_cache")
    [done] = texts(at.success)
    assert done.startswith(f"Cache invalidated for user ID {alex_id}:")
    if cache_kind != "memory":
        assert f"{cache_kind}user:{alex_id}" not in _redis_keys(cache_kind)
    assert _outcome(_click(at, "fetch_user_cached")) == "MISS"
    assert _outcome(_click(at, "fetch_score_cached")) == "MISS"
    assert _outcome(_click(at, "fetch_user_cached")) == "HIT"

    # A write through the unit of work invalidates after its commit.
    at.text_input(key="cache_new_name").input("Alex J. Smith")
    _click(at, "update_name")
    assert texts(at.success)[0].startswith("Name updated to 'Alex J. Smith' and committed")
    assert _outcome(_click(at, "fetch_user_cached")) == "MISS"
    assert json.loads(at.json[0].value)["name"] == "Alex J. Smith"
    assert _outcome(_click(at, "fetch_user_cached")) == "HIT"
    assert json.loads(at.json[0].value)["name"] == "Alex J. Smith"

    async def _name(db: Database) -> str:
        async with db.session() as session:
            return str(await session.scalar(select(User.name).where(User.id == alex_id)))

    assert query(sqlite_url, _name) == "Alex J. Smith"

    # Bursts of 20, first fetches: user MISS HIT MISS HIT MISS HIT; score MISS HIT MISS.
    # Each burst after its first fetch only hits.
    metrics = _metrics(at)
    assert metrics["Cache hits"] == str(9 * BURST_SIZE - 5)
    assert metrics["Cache misses"] == "5"
    assert metrics["Fetches measured"] == str(9 * BURST_SIZE)
    history = next(df.value for df in at.dataframe if "outcome" in df.value.columns)
    oldest_first = history.iloc[::-1]
    assert len(oldest_first) == 9 * BURST_SIZE
    assert list(oldest_first["outcome"])[::BURST_SIZE] == [
        *("MISS", "HIT", "MISS", "HIT", "MISS", "MISS", "HIT", "MISS", "HIT"),
    ]
    _assert_figures_come_from_the_listed_samples(metrics, oldest_first)
    formulas = [t for t in texts(at.latex) if "T_{\\text{avg}}^" in t]
    assert len(formulas) == 2
    assert f"{(6 * BURST_SIZE - 3) / (6 * BURST_SIZE):.3f} \\times" in formulas[0]
    assert f"{(3 * BURST_SIZE - 2) / (3 * BURST_SIZE):.3f} \\times" in formulas[1]
    assert at.get("vega_lite_chart"), "the latency chart is drawn"

    expected_backend = "memory" if cache_kind == "memory" else "redis"
    assert metrics["Backend"] == expected_backend
    assert metrics["Connected"] == "yes"
    assert metrics["Circuit breaker"] == "closed"
    sidebar = "\n".join(texts(at.sidebar.markdown))
    assert "**Cache (live):**" in sidebar and "breaker closed" in sidebar
    if cache_kind != "memory":
        assert "Redis " in sidebar and metrics["Server version"] != "n/a"


def _assert_figures_come_from_the_listed_samples(
    metrics: dict[str, str], samples: pd.DataFrame
) -> None:
    """H, T_cache, T_database and T_avg on screen, recomputed from the listed fetches."""
    hits = samples[samples["outcome"] == "HIT"]["ms"]
    misses = samples[samples["outcome"] == "MISS"]["ms"]
    h = len(hits) / (len(hits) + len(misses))
    assert metrics["Hit ratio H"] == f"{h:.3f}"
    t_cache = float(metrics["T_cache (ms, mean hit)"])
    t_database = float(metrics[T_DATABASE_LABEL])
    assert t_cache == pytest.approx(hits.mean(), abs=0.001)
    assert t_database == pytest.approx(max(misses.mean() - hits.mean(), 0), abs=0.002)
    shown_h = float(metrics["Hit ratio H"])
    assert float(metrics["T_avg (ms)"]) == pytest.approx(
        shown_h * t_cache + (1 - shown_h) * (t_cache + t_database), abs=0.01
    )


def test_a_burst_of_hits_only_says_t_database_is_not_measured_yet(sqlite_url: str) -> None:
    at = _initialised()
    assert _outcome(_click(at, "fetch_user_cached")) == "MISS"
    _click(at, "reset_cache_stats")
    assert _outcome(_click(at, "fetch_user_cached")) == "HIT"
    metrics = _metrics(at)
    assert metrics["Fetches measured"] == str(BURST_SIZE)
    assert metrics["Cache hits"] == str(BURST_SIZE)
    assert metrics[T_DATABASE_LABEL] == "not measured yet"
    assert metrics["T_avg (ms)"] == "not measured yet"
    assert float(metrics["T_cache (ms, mean hit)"]) > 0
    assert any("T_database is unknown (not 0)" in t for t in texts(at.info))
    chart = at.get("vega_lite_chart")[0].proto.spec
    assert '"type": "log"' in chart or '"type":"log"' in chart


def test_scores_added_on_page_three_invalidate_the_cached_latest_score(
    sqlite_url: str,
) -> None:
    at = _click(_initialised(), "add_sample_score")
    assert _outcome(_click(at, "fetch_score_cached")) == "MISS"
    assert _outcome(_click(at, "fetch_score_cached")) == "HIT"
    alex_id = user_emails(sqlite_url)[ALEX_EMAIL]

    go_to(at, REPOSITORY)
    _click(at, "add_scores")
    go_to(at, CACHING)
    assert _outcome(_click(at, "fetch_score_cached")) == "MISS"
    newest = json.loads(at.json[0].value)["id"]
    assert newest in _scores(sqlite_url, alex_id)
    assert len(_scores(sqlite_url, alex_id)) == 4


def test_an_unreachable_redis_is_bypassed_and_the_database_answers(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QULAB_REDIS_URL", f"redis://127.0.0.1:{services.free_port()}/0")
    monkeypatch.setenv("QULAB_CACHE_PREFIX", new_prefix())
    at = _initialised()
    alex_id = user_emails(sqlite_url)[ALEX_EMAIL]
    assert _outcome(_click(at, "fetch_user_cached")) == "BYPASS"
    assert json.loads(at.json[0].value)["id"] == alex_id
    bypass = next(t for t in texts(at.info) if t.startswith("Cache BYPASS"))
    assert "Check that Redis is running at QULAB_REDIS_URL" in bypass
    assert _metrics(at)["Connected"] == "no"
    assert "not answering" in "\n".join(texts(at.sidebar.markdown))


def test_a_rename_to_a_blank_name_is_refused_and_changes_nothing(sqlite_url: str) -> None:
    at = _initialised()
    at.text_input(key="cache_new_name").input("   ")
    _click(at, "update_name")
    [error] = texts(at.error)
    assert error.startswith("Invalid name:")
    assert next(t for t in texts(at.markdown) if t.startswith("Using **")).startswith(
        "Using **Alex Smith**"
    )


def test_page_asks_for_the_database_first(sqlite_url: str) -> None:
    at = go_to(open_runtime(), CACHING)
    no_exception(at)
    assert any("initialise the database on page 2" in w for w in texts(at.warning))
    assert "fetch_user_cached" not in [button.key for button in at.button]


def test_after_a_server_restart_redis_still_holds_the_entry_and_memory_starts_empty(
    sqlite_url: str, cache_kind: str
) -> None:
    at = _initialised()
    assert _outcome(_click(at, "fetch_user_cached")) == "MISS"
    restart_server()
    again = go_to(open_runtime(), CACHING)
    no_exception(again)
    expected = "MISS" if cache_kind == "memory" else "HIT"
    assert _outcome(_click(again, "fetch_user_cached")) == expected


def _row_counts(url: str) -> dict[str, int]:
    async def _count(db: Database) -> dict[str, int]:
        async with db.connect() as conn:
            names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
            return {
                name: int(
                    (await conn.execute(select(func.count()).select_from(table(name)))).scalar_one()
                )
                for name in names
            }

    return dict(query(url, _count))


def test_opening_the_page_writes_nothing_to_the_database_or_the_cache(
    sqlite_url: str, cache_kind: str
) -> None:
    at = go_to(open_runtime(), CONNECTIVITY)
    next(b for b in at.button if b.label == SETUP_LABEL).click().run()
    no_exception(at)
    rows = _row_counts(sqlite_url)
    keys = set() if cache_kind == "memory" else _redis_keys(cache_kind)

    for _ in range(2):  # opened, and opened again
        go_to(at, CACHING)
        no_exception(at)
        assert any(t.startswith("Using **Alex Smith**") for t in texts(at.markdown))

    assert _row_counts(sqlite_url) == rows
    if cache_kind != "memory":
        assert _redis_keys(cache_kind) == keys
