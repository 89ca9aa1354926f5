"""The caching page's strategies section: run the comparison, see its charts and what they
say, kill the write-behind flusher and see the lost writes; the scratch rows are gone after."""

from __future__ import annotations

import asyncio
import json
import re

from sqlalchemy import inspect
from streamlit.testing.v1 import AppTest

from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.entrypoints.app.navigation import CACHING, CONNECTIVITY
from qulab.entrypoints.app.sections.connectivity import SETUP_LABEL
from qulab.entrypoints.app.strategies_view import KILL_LABEL, RUN_LABEL
from tests.app.helpers import go_to, no_exception, open_runtime, texts


def _tables(url: str) -> list[str]:
    async def _go() -> list[str]:
        db = Database(Settings().replace(database_url=url))
        try:
            async with db.engine.connect() as conn:
                return await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        finally:
            await db.dispose()

    return asyncio.run(_go())


def _caching_page() -> AppTest:
    at = go_to(open_runtime(), CONNECTIVITY)
    next(b for b in at.button if b.label == SETUP_LABEL).click().run()
    no_exception(at)
    return go_to(at, CACHING)


def _button(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click().run()
    no_exception(at)
    return at


def test_running_the_comparison_charts_every_strategy_and_explains_each_chart(
    sqlite_url: str,
) -> None:
    at = _caching_page()
    tables_before = _tables(sqlite_url)
    at.slider(key="strategies_zipf").set_value(1.2).run()
    at.slider(key="strategies_reads").set_value(0.8).run()
    at.slider(key="strategies_tasks").set_value(4).run()
    _button(at, RUN_LABEL)

    [frame] = [d.value for d in at.dataframe if "strategy" in d.value.columns]
    assert list(frame["strategy"]) == [
        "ttl-only",
        "invalidate",
        "write-through",
        "write-behind",
        "refresh-ahead",
        "two-tier",
    ]
    stale = dict(zip(frame["strategy"], frame["stale reads"], strict=True))
    assert stale["ttl-only"] > 0 and stale["invalidate"] == 0
    assert {"hit ratio (%)", "median read (µs)", "worst staleness (ms)", "writes lost"} <= set(
        frame.columns
    )
    assert not [c for c in frame.columns if "_" in c]  # no raw field names
    charts = at.get("vega_lite_chart")
    assert len(charts) == 4  # hit ratio, DB load, staleness, latency
    assert len({_colour_scale(chart.proto.spec) for chart in charts}) == 1
    infos = " ".join(texts(at.info))
    for row in frame.to_dict("records"):
        if row["strategy"] == "write-behind" and row["writes lost"]:
            assert "`write-behind` lost" in infos and "in a run without a kill" in infos
        if row["database loads"] < row["misses"]:
            assert f"`{row['strategy']}` missed {row['misses']} times" in infos
    captions = " ".join(texts(at.caption))
    assert "replayed the same 1000 operations on sqlite + in-process cache" in captions
    assert re.search(r"`ttl-only` serves old data \(up to \d+% here\)", captions)
    assert "the log scale shows both ends" in captions
    assert "Hits cost microseconds" not in captions
    assert "the strategies that act after commit served 0 stale reads" in captions
    assert _tables(sqlite_url) == tables_before


def test_killing_the_write_behind_flusher_shows_the_writes_the_database_never_got(
    sqlite_url: str,
) -> None:
    at = _button(_caching_page(), KILL_LABEL)
    (shown,) = [text for text in texts(at.error) if "acknowledged writes" in text]
    lost, writes = map(int, re.findall(r"^(\d+) of (\d+) acknowledged writes", shown)[0])
    assert 0 < lost <= writes


def _colour_scale(spec: str) -> str:
    """The strategy colour scale (domain and range) a chart's spec declares."""
    colour = json.loads(spec)["encoding"]["color"]
    return json.dumps(colour["scale"], sort_keys=True)
