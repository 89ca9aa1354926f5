from __future__ import annotations

from qulab.lab import LoadRun, eager_queries
from qulab.lab.pooling import percentile


def test_eager_loading_needs_one_more_statement_per_500_users() -> None:
    assert [eager_queries(n) for n in (0, 1, 500, 501, 1000, 1001)] == [1, 2, 2, 3, 3, 4]


def test_load_run_derives_throughput_percentiles_and_overflow() -> None:
    run = LoadRun(
        mode="pooled",
        concurrency=4,
        requests=4,
        total_s=2.0,
        latencies_s=(0.4, 0.1, 0.3, 0.2),
        checkouts=4,
        connects=0,
        peak_checked_out=3,
        pool_size=2,
        max_overflow=1,
    )
    assert run.throughput == 2.0
    assert run.p50_s == 0.25
    assert run.p95_s == 0.4
    assert run.overflow_used == 1


def test_percentile_of_nothing_is_zero() -> None:
    assert percentile([], 95) == 0.0
