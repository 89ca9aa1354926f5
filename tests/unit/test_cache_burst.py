"""Burst summaries and access times come from the samples, and say when a figure is unknown."""

from __future__ import annotations

from typing import Any

import pytest

from qulab.core.cache import CacheResult, Outcome
from qulab.core.errors import InvalidInput
from qulab.lab.cache_burst import Sample, access_times, fetch_burst, percentile


def test_p95_of_twenty_samples_is_the_nineteenth_fastest() -> None:
    values = [float(n) for n in range(1, 21)]
    assert percentile(values, 95) == 19.0
    assert percentile(values, 50) == 10.0
    assert percentile([7.0], 95) == 7.0


def test_access_times_follow_the_formula_on_the_samples() -> None:
    samples = [
        Sample("user", "MISS", 0.090),
        *(Sample("user", "HIT", 0.0001 * n) for n in range(1, 4)),
        Sample("user", "BYPASS", 5.0),
    ]
    times = access_times(samples)
    assert (times.hits, times.misses) == (3, 1)
    assert times.hit_ratio == 0.75
    assert times.t_cache_s == pytest.approx(0.0002)
    # T_database is what a miss adds to a hit; T_avg the cache statistics' formula.
    assert times.t_miss_s == pytest.approx(0.090)
    assert times.t_database_s == pytest.approx(0.090 - 0.0002)
    assert times.t_avg_s == pytest.approx(0.75 * 0.0002 + 0.25 * (0.0002 + 0.090 - 0.0002))


def test_without_a_miss_t_database_and_t_avg_are_unknown_not_zero() -> None:
    times = access_times([Sample("user", "HIT", 0.0188)])
    assert times.t_cache_s == pytest.approx(0.0188)
    assert times.t_database_s is None
    assert times.t_avg_s is None


async def test_a_burst_keeps_every_sample_in_order() -> None:
    outcomes = iter([Outcome.MISS] + [Outcome.HIT] * 19)

    async def fetch() -> CacheResult[Any]:
        return CacheResult(None, next(outcomes), 0.001, "user:1")

    burst = await fetch_burst("user", fetch)
    assert len(burst.samples) == 20
    assert [s.outcome for s in burst.samples[:2]] == ["MISS", "HIT"]
    assert burst.count(Outcome.HIT) == 19 and burst.count(Outcome.MISS) == 1
    assert burst.median_s == burst.p95_s == 0.001


async def test_an_empty_burst_is_refused() -> None:
    async def fetch() -> CacheResult[Any]:
        raise AssertionError("not called")

    with pytest.raises(InvalidInput):
        await fetch_burst("user", fetch, 0)
