"""The prediction grader follows the table it is given: change the table and the right answer
changes with it (no answer key), ties count every strategy in them, bad predictions are
refused."""

from __future__ import annotations

import pytest

from qulab.core import InvalidInput
from qulab.lab.cache_compare import CacheComparison, StrategyResult
from qulab.lab.prediction import FALL, FLAT, NO_STALE, RISE, Prediction, grade_prediction
from qulab.lab.workload import Workload


def _result(name: str, stale: int, loads: int, hit_ratio: float) -> StrategyResult:
    return StrategyResult(
        strategy=name,
        reads=100,
        writes=10,
        hits=int(hit_ratio * 100),
        hit_ratio=hit_ratio,
        db_loads=loads,
        db_loads_per_s=0.0,
        stale_reads=stale,
        max_staleness_ms=0.0,
        lost_writes=0,
        p50_us=1.0,
        p95_us=1.0,
        p99_us=1.0,
        stampede_loads=0,
        stampede_readers=0,
        seconds=1.0,
    )


def _table(zipf: float, rows: list[tuple[str, int, int, float]]) -> CacheComparison:
    workload = Workload(zipf=zipf, ops=100)
    return CacheComparison("test", workload, [_result(*row) for row in rows])


UNIFORM = _table(0.0, [("ttl-only", 0, 50, 0.5), ("invalidate", 0, 50, 0.5)])


def test_an_unusual_table_makes_an_unusual_answer_right() -> None:
    skewed = _table(0.8, [("ttl-only", 1, 10, 0.3), ("invalidate", 7, 90, 0.3)])
    grade = grade_prediction(Prediction("invalidate", "ttl-only", FALL), skewed, UNIFORM)
    assert [answer.correct for answer in grade.answers] == [True, True, True]
    assert grade.answers[0].explanation.startswith("`invalidate` served the most stale reads")
    assert grade.answers[2].explanation.startswith(
        "Mean hit ratio over the strategies: 50.0% with uniform keys, 30.0% at Zipf 0.8"
    )


def test_ties_count_every_strategy_and_no_stale_read_has_its_own_answer() -> None:
    skewed = _table(0.8, [("ttl-only", 0, 20, 0.51), ("invalidate", 0, 20, 0.51)])
    for name in ("ttl-only", "invalidate"):
        grade = grade_prediction(Prediction(NO_STALE, name, FLAT), skewed, UNIFORM)
        assert [answer.correct for answer in grade.answers] == [True, True, True]
    missed = grade_prediction(Prediction("ttl-only", "ttl-only", RISE), skewed, UNIFORM)
    assert not missed.answers[0].correct
    assert missed.answers[0].measured == NO_STALE
    assert "`ttl-only` served 0 of 100 reads (0.0%)" in missed.answers[0].explanation
    assert missed.answers[2].measured == FLAT


def test_an_unknown_strategy_or_effect_is_refused() -> None:
    with pytest.raises(InvalidInput, match="stale: unknown strategy 'lru'"):
        Prediction("lru", "ttl-only", RISE)
    with pytest.raises(InvalidInput, match="skew: must be one of"):
        Prediction("ttl-only", "ttl-only", "doubles")
