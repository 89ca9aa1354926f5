"""The caching page's "Caching strategies" section: run the six strategies on one seeded
workload over scratch rows, and chart hit ratio, database load, staleness and latency."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from qulab.core import Database, Settings
from qulab.entrypoints.app import predict_view, runtime
from qulab.entrypoints.app.feedback import explain
from qulab.entrypoints.app.step_marks import mark_step
from qulab.entrypoints.app.steps import value_axis
from qulab.lab.cache_compare import CacheComparison, compare_strategies
from qulab.lab.prediction import uniform_workload
from qulab.lab.strategies import STRATEGY_NAMES
from qulab.lab.wording import counted
from qulab.lab.workload import Workload

RUN_LABEL = "Run the comparison"
KILL_LABEL = "Kill the write-behind flusher"
RESULT_KEY = "strategies_result"
SWEEP_KEY = "strategies_sweep"
KILL_KEY = "strategies_killed"
OPS = 1000
SWEEP_OPS = 300
SWEEP_WRITE_RATIOS = (0.01, 0.1, 0.3, 0.5)
RUN_TIMEOUT = 300.0
AFTER_COMMIT = ("invalidate", "write-through", "refresh-ahead", "two-tier")
# One colour per strategy, the same in every chart (colour-blind-safe, Okabe-Ito).
STRATEGY_COLOURS = ("#E69F00", "#0072B2", "#009E73", "#D55E00", "#CC79A7", "#56B4E9")
COLUMNS = {
    "strategy": "strategy",
    "hit_ratio": "hit ratio (%)",
    "misses": "misses",
    "db_loads": "database loads",
    "stale_reads": "stale reads",
    "max_staleness_ms": "worst staleness (ms)",
    "lost_writes": "writes lost",
    "p50_us": "median read (µs)",
    "p99_us": "99th percentile read (µs)",
    "stampede_loads": "loads when the hot key expired",
}


def strategy_colour(legend: bool = False) -> Any:
    """The colour encoding every chart of the section shares: one colour per strategy."""
    return alt.Color(
        "strategy:N",
        scale=alt.Scale(domain=list(STRATEGY_NAMES), range=list(STRATEGY_COLOURS)),
        legend=alt.Legend(title="strategy") if legend else None,
    )


def results_table(comparison: CacheComparison) -> pd.DataFrame:
    """The measured table with plain column names and their units."""
    frame = _frame(comparison)
    frame["misses"] = frame["reads"] - frame["hits"]
    frame["hit_ratio"] = (100 * frame["hit_ratio"]).round(1)
    frame["max_staleness_ms"] = frame["max_staleness_ms"].round(1)
    for column in ("p50_us", "p99_us"):
        frame[column] = frame[column].round(0)
    table = frame[list(COLUMNS)].rename(columns=COLUMNS)
    readers = comparison.workload.stampede_readers
    return table.rename(
        columns={
            COLUMNS["stampede_loads"]: f"database loads when the hot key expired under "
            f"{readers} readers"
        }
    )


def _effects(comparison: CacheComparison) -> list[str]:
    """One sentence per effect the table shows that needs saying: losses, coalesced misses."""
    said = []
    for result in comparison.results:
        misses = result.reads - result.hits
        if result.strategy == "write-behind" and result.lost_writes:
            said.append(
                f"`write-behind` lost {counted(result.lost_writes, 'write')} in a run without "
                "a kill: the run stops its flusher the moment the last operation is answered, "
                "as a crash would, so the writes still queued then never reach the database. "
                "That is write-behind's price: a write is acknowledged before it is durable."
            )
        if result.db_loads < misses:
            said.append(
                f"`{result.strategy}` missed {misses} times but loaded the database only "
                f"{counted(result.db_loads, 'time')}: concurrent misses on the same key wait "
                "for one load (single flight) instead of each reading the row. The more "
                "skewed the workload, the more readers ask for the same hot keys at once."
            )
    return said


def _run(settings: Settings, db: Database, workloads: list[Workload], names: list[str]) -> Any:
    async def work() -> list[CacheComparison]:
        return [
            await compare_strategies(
                db,
                names,
                workload,
                redis_url=settings.cache.redis_url,
                prefix=settings.cache.prefix,
            )
            for workload in workloads
        ]

    try:
        return runtime.run(work(), timeout=RUN_TIMEOUT)
    except Exception as error:
        st.error(explain(error, db), icon=":material/error:")
        return None


def _controls() -> Workload:
    left, right = st.columns(2)
    zipf = left.slider("Skew (Zipf exponent)", 0.0, 1.2, 0.8, 0.1, key="strategies_zipf")
    read_ratio = right.slider("Read ratio", 0.5, 0.99, 0.9, 0.01, key="strategies_reads")
    ttl = left.slider("TTL (seconds)", 1, 60, 30, key="strategies_ttl")
    concurrency = right.slider("Concurrency (tasks)", 1, 64, 16, key="strategies_tasks")
    return Workload(
        keys=100,
        zipf=zipf,
        read_ratio=read_ratio,
        ops=OPS,
        concurrency=concurrency,
        ttl=float(ttl),
        seed=1,
    )


def _frame(comparison: CacheComparison) -> pd.DataFrame:
    return pd.DataFrame(comparison.as_dicts())


def _bars(frame: pd.DataFrame, field: str, title: str, fmt: str) -> Any:
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("strategy:N", sort=list(STRATEGY_NAMES), title=None),
            y=alt.Y(f"{field}:Q", axis=value_axis(title)),
            color=strategy_colour(),
            tooltip=["strategy", alt.Tooltip(f"{field}:Q", format=fmt)],
        )
        .properties(height=240)
    )


def _hit_and_load(comparison: CacheComparison) -> None:
    frame = _frame(comparison)
    st.markdown("**Hit ratio and database load by strategy**")
    left, right = st.columns(2)
    left.altair_chart(_bars(frame, "hit_ratio", "hit ratio", ".1%"), width="stretch")
    right.altair_chart(_bars(frame, "db_loads", "database loads (reads)", "d"), width="stretch")
    best = frame.loc[frame["hit_ratio"].idxmax()]
    st.caption(
        f"Every strategy replayed the same {comparison.workload.ops} operations on "
        f"{comparison.stack}; `{best['strategy']}` answered most reads from the cache "
        f"({best['hit_ratio']:.1%}). Invalidation empties an entry on every write, so the next "
        "read loads it again; write-through and write-behind refill it instead, and ttl-only "
        "never empties it at all (which is why it also serves stale data)."
    )


def _staleness(sweep: list[CacheComparison]) -> None:
    rows = [
        {
            "write ratio": round(1 - comparison.workload.read_ratio, 2),
            "strategy": row["strategy"],
            "stale reads (%)": 100 * row["stale_reads"] / max(row["reads"], 1),
        }
        for comparison in sweep
        for row in comparison.as_dicts()
    ]
    chart = (
        alt.Chart(pd.DataFrame(rows))
        .mark_line(point=True)
        .encode(
            x=alt.X("write ratio:Q", title="share of writes"),
            y=alt.Y("stale reads (%):Q", axis=value_axis("stale reads (% of reads)")),
            color=strategy_colour(legend=True),
            tooltip=["strategy", "write ratio", alt.Tooltip("stale reads (%):Q", format=".1f")],
        )
        .properties(height=260)
    )
    st.markdown("**Stale reads against the share of writes**")
    st.altair_chart(chart, width="stretch")
    worst = max(row["stale reads (%)"] for row in rows if row["strategy"] == "ttl-only")
    others = sum(
        row["stale_reads"]
        for comparison in sweep
        for row in comparison.as_dicts()
        if row["strategy"] in AFTER_COMMIT
    )
    st.caption(
        "A read is stale when it returns a version older than the newest write completed "
        "before it began, checked against the version each write carried. The more writes land "
        f"inside a TTL the more `ttl-only` serves old data (up to {worst:.0f}% here), while "
        f"the strategies that act after commit served {others} stale reads in these runs."
    )


def _latency(comparison: CacheComparison) -> None:
    rows = [
        {"strategy": result.strategy, "read latency (µs)": max(value, 0.1)}
        for result in comparison.results
        for value in result.latencies_us
    ]
    chart = (
        alt.Chart(pd.DataFrame(rows))
        .mark_boxplot(extent="min-max")
        .encode(
            x=alt.X("read latency (µs):Q", scale=alt.Scale(type="log")),
            y=alt.Y("strategy:N", sort=list(STRATEGY_NAMES), title=None),
            color=strategy_colour(),
        )
        .properties(height=260)
    )
    st.markdown("**Read latency distributions (log scale)**")
    st.altair_chart(chart, width="stretch")
    measured = [result for result in comparison.results if result.p50_us is not None]
    if not measured:
        return
    fastest = min(measured, key=lambda result: result.p50_us or 0.0)
    slowest = max(measured, key=lambda result: result.p99_us or 0.0)
    st.caption(
        f"On {comparison.stack} a hit costs one cache round trip (in process: a dictionary "
        "lookup; Redis: a network round trip) and a miss adds a database read, so one "
        "distribution can span orders of magnitude: the log scale shows both ends. "
        f"`{fastest.strategy}` had the lowest median read ({fastest.p50_us or 0:,.0f} µs); "
        f"the slowest reads were `{slowest.strategy}`'s (99th percentile "
        f"{slowest.p99_us or 0:,.0f} µs)."
    )


def _kill(settings: Settings, db: Database, workload: Workload) -> None:
    st.markdown(
        "Write-behind answers a write once the cache and a queue hold it; a flusher writes the "
        "database later, in batches. Kill the flusher halfway through a run and count, against "
        "the database, the writes that were acknowledged and never arrived."
    )
    if st.button(KILL_LABEL, key="kill_flusher"):
        killed = Workload(**(workload.as_dict() | {"kill_flusher_at": 0.5, "stampede_readers": 0}))
        with st.spinner("Running write-behind and killing its flusher halfway..."):
            done = _run(settings, db, [killed], ["write-behind"])
        if done is not None:
            st.session_state[KILL_KEY] = done[0].results[0]
    result = st.session_state.get(KILL_KEY)
    if result is not None:
        st.error(
            f"{result.lost_writes} of {counted(result.writes, 'acknowledged write')} never "
            "reached the "
            "database: the flusher died with them in its queue (or they were written after it "
            "died). The cache still shows them, so nothing looks wrong until it is evicted.",
            icon=":material/delete_forever:",
        )


def render_strategies(settings: Settings, db: Database) -> None:
    st.subheader("Caching strategies")
    st.markdown(
        "Six strategies read and write the same scratch rows (a table the run creates and "
        "drops), each on its own keys: `ttl-only`, `invalidate` (the cache above), "
        "`write-through`, `write-behind`, `refresh-ahead` (XFetch) and `two-tier` (in-process "
        "L1 over the shared cache). Each write carries a version number, so every stale read is "
        "counted, not estimated."
    )
    workload = _controls()
    prediction = predict_view.render_prediction(workload)
    if st.button(RUN_LABEL, type="primary", key="run_strategies"):
        sweep = [
            Workload(
                **(
                    workload.as_dict()
                    | {
                        "read_ratio": 1 - ratio,
                        "ops": SWEEP_OPS,
                        "stampede_readers": 0,
                    }
                )
            )
            for ratio in SWEEP_WRITE_RATIOS
        ]
        with st.spinner("Running every strategy on the same workload..."):
            uniform = uniform_workload(workload)
            done = _run(settings, db, [workload, *sweep, uniform], list(STRATEGY_NAMES))
        if done is not None:
            st.session_state[RESULT_KEY], st.session_state[SWEEP_KEY] = done[0], done[1:-1]
            predict_view.keep(db, prediction, done[0], done[-1])
            mark_step("caching", "Compare strategies")
    comparison: CacheComparison | None = st.session_state.get(RESULT_KEY)
    if comparison is not None:
        st.dataframe(results_table(comparison), hide_index=True, width="stretch")
        for sentence in _effects(comparison):
            st.info(sentence, icon=":material/info:")
        predict_view.render_grade()
        _hit_and_load(comparison)
        _staleness(st.session_state[SWEEP_KEY])
        _latency(comparison)
    _kill(settings, db, workload)
