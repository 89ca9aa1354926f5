"""Analyze by predicting: the comparison runs for real, and the grader reads its answers from
the measured tables (on SQLite with the in-process cache, and on PostgreSQL with Redis)."""

from __future__ import annotations

import pytest

from qulab.core.db import Database
from qulab.lab.cache_compare import compare_strategies
from qulab.lab.prediction import (
    FALL,
    FLAT,
    RISE,
    Prediction,
    grade_prediction,
    mean_hit_ratio,
    uniform_workload,
)
from qulab.lab.strategies import STRATEGY_NAMES
from qulab.lab.workload import Workload
from tests.cache_support import new_prefix

WITH_REDIS = pytest.param("postgresql", marks=pytest.mark.redis)
WORKLOAD = Workload(
    keys=50, zipf=1.2, read_ratio=0.8, ops=400, concurrency=4, ttl=30.0, stampede_readers=0
)


@pytest.fixture(params=["sqlite", WITH_REDIS])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_the_grader_reads_every_answer_from_the_measured_tables(
    db: Database, backend: str, request: pytest.FixtureRequest
) -> None:
    redis_url = str(request.getfixturevalue("redis_url")) if backend == "postgresql" else None
    names = list(STRATEGY_NAMES)
    prefix = new_prefix()
    skewed = await compare_strategies(db, names, WORKLOAD, redis_url=redis_url, prefix=prefix)
    uniform = await compare_strategies(
        db, names, uniform_workload(WORKLOAD), redis_url=redis_url, prefix=prefix
    )
    table = {row["strategy"]: row for row in skewed.as_dicts()}
    most_stale = max(table, key=lambda name: table[name]["stale_reads"])
    least_load = min(table, key=lambda name: table[name]["db_loads"])
    most_load = max(table, key=lambda name: table[name]["db_loads"])
    fewest_stale = min(table, key=lambda name: table[name]["stale_reads"])
    change = mean_hit_ratio(skewed) - mean_hit_ratio(uniform)
    effect = FLAT if abs(change) <= 2 else (RISE if change > 0 else FALL)
    other_effect = next(option for option in (RISE, FALL, FLAT) if option != effect)
    assert table[most_stale]["stale_reads"] > table[fewest_stale]["stale_reads"]

    right = grade_prediction(Prediction(most_stale, least_load, effect), skewed, uniform)
    assert [answer.correct for answer in right.answers] == [True, True, True]
    assert right.summary == "3 of 3 predictions right."

    wrong = grade_prediction(Prediction(fewest_stale, most_load, other_effect), skewed, uniform)
    assert [answer.correct for answer in wrong.answers] == [False, False, False]
    stale, load, skew = wrong.answers
    # each miss is explained with the figures that decide it, read from the table
    assert f"{table[most_stale]['stale_reads']} of {table[most_stale]['reads']} reads" in (
        stale.explanation
    )
    assert f"`{fewest_stale}` served {table[fewest_stale]['stale_reads']} of" in stale.explanation
    assert f"least: {table[least_load]['db_loads']} loads" in load.explanation
    assert f"`{most_load}` loaded it {table[most_load]['db_loads']} times" in load.explanation
    assert f"{mean_hit_ratio(uniform):.1f}% with uniform keys" in skew.explanation
    assert f"{mean_hit_ratio(skewed):.1f}% at Zipf 1.2" in skew.explanation
    assert skew.measured == effect
