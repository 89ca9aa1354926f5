"""The comparison's workload generator and version oracle, and naming strategies."""

from __future__ import annotations

from collections import Counter

import pytest

from qulab.core.errors import InvalidInput
from qulab.lab.cache_compare import percentile
from qulab.lab.strategies import STRATEGY_NAMES, parse_strategies
from qulab.lab.workload import VersionOracle, Workload, operations


def test_the_same_seed_gives_the_same_operations_and_another_seed_others() -> None:
    workload = Workload(keys=50, zipf=0.8, read_ratio=0.9, ops=500, seed=4)
    assert operations(workload) == operations(Workload(**(workload.as_dict())))
    assert operations(workload) != operations(Workload(**(workload.as_dict() | {"seed": 5})))


def test_skew_concentrates_operations_on_the_first_keys_and_the_ratio_holds() -> None:
    flat = Counter(op.key for op in operations(Workload(keys=10, zipf=0.0, ops=10_000)))
    skewed = Counter(op.key for op in operations(Workload(keys=10, zipf=1.2, ops=10_000)))
    assert max(flat.values()) < 2 * min(flat.values())
    assert skewed[0] > 5 * skewed[9]
    reads = sum(op.kind == "read" for op in operations(Workload(read_ratio=0.99, ops=10_000)))
    assert 9_800 <= reads <= 9_970


@pytest.mark.parametrize(
    ("field", "value"),
    [("keys", 0), ("zipf", -0.1), ("read_ratio", 1.5), ("ops", 0), ("concurrency", 0), ("ttl", 0)],
)
def test_a_workload_out_of_range_is_refused_naming_the_field(field: str, value: float) -> None:
    with pytest.raises(InvalidInput, match=rf"^{field}: must be between"):
        Workload(**{field: value})  # type: ignore[arg-type]


def test_the_oracle_judges_a_read_against_the_newest_version_completed_before_it() -> None:
    oracle = VersionOracle({"a": 0}, clock_start=0.0)
    assert (oracle.reserve("a"), oracle.reserve("a")) == (1, 2)
    oracle.complete("a", 2, at=5.0)
    oracle.complete("a", 1, at=6.0)  # completed later, but older: the newest stays 2
    assert oracle.latest("a") == 2
    assert oracle.staleness("a", returned=0, newest_at_start=2, started=7.5) == 2.5
    assert oracle.staleness("a", returned=2, newest_at_start=2, started=7.5) == 0.0
    assert oracle.lost({"a": 1}) == 1  # version 2 never reached the database


def test_strategies_are_parsed_in_order_without_repeats_and_unknown_ones_refused() -> None:
    assert parse_strategies("two-tier, ttl-only,two-tier") == ["two-tier", "ttl-only"]
    assert parse_strategies(",".join(STRATEGY_NAMES)) == list(STRATEGY_NAMES)
    with pytest.raises(InvalidInput, match=r"^strategies: unknown lru; known: ttl-only, "):
        parse_strategies("lru,ttl-only")
    with pytest.raises(InvalidInput, match=r"^strategies: name at least one"):
        parse_strategies(" , ")


def test_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99)) == (50.0, 99.0)
    assert percentile([], 0.5) is None
