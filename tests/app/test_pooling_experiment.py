"""Page 2's experiments: pooled against NullPool at K concurrent requests, and pool exhaustion."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from qulab.core.db import Database
from qulab.core.models import DomainEvent
from qulab.entrypoints.app.demo_data import POOL_MARKER, POOL_USERS
from qulab.entrypoints.app.navigation import CONNECTIVITY
from qulab.entrypoints.app.sections.connectivity import SETUP_LABEL
from qulab.platform.services import seeding
from tests.app.helpers import go_to, no_exception, open_runtime, query, texts, user_count

K = 4
REQUESTS = 40


def _initialised() -> AppTest:
    at = go_to(open_runtime(), CONNECTIVITY)
    next(b for b in at.button if b.label == SETUP_LABEL).click().run()
    no_exception(at)
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: str(metric.value) for metric in at.metric}


def _frame_with(at: AppTest, column: str) -> pd.DataFrame:
    return next(df.value for df in at.dataframe if column in df.value.columns)


def test_pooled_and_nullpool_runs_show_throughput_latency_and_pool_use(lab_url: str) -> None:
    at = _initialised()
    at.number_input(key="pool_k").set_value(K)
    at.number_input(key="pool_requests").set_value(REQUESTS)
    at.button(key="run_pooling").click().run()
    no_exception(at)
    assert not at.error

    rows = _frame_with(at, "NullPool")
    pooled, fresh = rows["pooled"], rows["NullPool"]
    for run in (pooled, fresh):
        assert run["requests"] == str(REQUESTS)
        assert run["concurrency K"] == str(K)
        assert 1 <= int(run["peak checked out"]) <= K
        assert float(run["p50 latency (ms)"]) <= float(run["p95 latency (ms)"])
        # Θ = requests / total time, as shown.
        shown = float(run["Θ (requests/s)"])
        assert shown == pytest.approx(REQUESTS / float(run["total time (s)"]), rel=0.01)
    # A fresh connection per request: exactly one connect per request; the warm pool reuses.
    assert fresh["connections opened"] == str(REQUESTS)
    assert int(pooled["connections opened"]) <= K
    assert pooled["overflow used"] == "0"  # K is below the default pool_size of 10
    assert fresh["overflow used"] == "n/a (no pool)"

    metrics = _metrics(at)
    assert metrics["Θ pooled (requests/s)"] == pooled["Θ (requests/s)"]
    assert metrics["Θ NullPool (requests/s)"] == fresh["Θ (requests/s)"]
    assert any(r"\Theta_{\text{pooled}} = \frac{40}" in latex for latex in texts(at.latex))
    assert at.get("vega_lite_chart"), "the throughput chart is drawn"
    [timeline] = [t for t in texts(at.caption) if t.startswith("Sampled at every checkout")]
    assert f"the pooled run peaked at {pooled['peak checked out']} checked out" in timeline
    assert f"NullPool at {fresh['peak checked out']}." in timeline
    specs = [chart.proto.spec for chart in at.get("vega_lite_chart")]
    assert any("milliseconds into the run" in spec for spec in specs)

    # The requests read users seeded under the marker, and only those were added.
    seeded = query(lab_url, lambda db: seeding.count_seeded(db, POOL_MARKER))
    assert seeded == POOL_USERS
    assert user_count(lab_url) == POOL_USERS + 2

    # Running again reuses the seeded users; the result stays on screen across reruns.
    at.button(key="run_pooling").click().run()
    assert query(lab_url, lambda db: seeding.count_seeded(db, POOL_MARKER)) == POOL_USERS
    at.run()
    assert "Θ pooled (requests/s)" in _metrics(at)


def test_pool_exhaustion_shows_which_holders_timed_out_and_why(lab_url: str) -> None:
    at = _initialised()
    at.button(key="run_exhaustion").click().run()
    no_exception(at)

    metrics = _metrics(at)
    assert metrics["Holders"] == "5"
    assert metrics["Got a connection"] == "2"
    assert metrics["Timed out"] == "3"
    [error] = texts(at.error)
    assert error.startswith("3 of 5 holders (")
    assert "QueuePool limit of size 2 overflow 0 reached" in error
    assert "raise QULAB_POOL_SIZE / QULAB_MAX_OVERFLOW" in error

    holders = _frame_with(at, "holder")
    assert sorted(holders["outcome"]) == ["got a connection"] * 2 + ["timed out"] * 3
    failed = holders[holders["outcome"] == "timed out"]
    assert "message" not in holders.columns  # the message is shown whole, once, above
    assert all(float(waited) >= 500 * 0.9 for waited in failed["waited (ms)"])

    async def events(db: Database) -> int:
        async with db.session() as session:
            return int(await session.scalar(select(func.count()).select_from(DomainEvent)) or 0)

    assert query(lab_url, events) == 2  # only the two sample users' user.created events


def test_experiments_ask_for_the_database_first(sqlite_url: str) -> None:
    at = go_to(open_runtime(), CONNECTIVITY)
    no_exception(at)
    assert "run_pooling" not in [button.key for button in at.button]
    assert any(
        info.startswith("Initialise the database in step 1 first") for info in texts(at.info)
    )
