"""The ``peers`` benchmark: without the optional peers it says what is missing; with them it
runs end to end at tiny sizes (structure only, nothing measured)."""

from __future__ import annotations

import importlib.util

import pytest
from bench.harness import BenchConfig, run

from bench import peer_contenders, peers

# The peers call redis-py methods it has deprecated (close, setex): their business, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated:DeprecationWarning")


async def test_without_the_peers_installed_the_report_says_which_are_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(peers, "missing_peers", lambda: ["cashews"])

    # Services configured (never reached): what is missing is the peers, not PostgreSQL/Redis.
    config = BenchConfig.smoke(
        postgres_url="postgresql+asyncpg://bench@127.0.0.1:1/none",
        redis_url="redis://127.0.0.1:1/0",
    )
    [report] = await run(["peers"], config)

    assert report.tables == [] and report.targets == []
    assert report.notes == ["not installed: cashews (pip install -e '.[peers]')"]


def test_peers_are_looked_up_by_their_import_names() -> None:
    expected = [name for name in ("cashews", "aiocache") if importlib.util.find_spec(name) is None]
    assert peer_contenders.missing_peers() == expected


async def test_with_the_peers_every_contender_is_measured_side_by_side(
    postgres_url: str, redis_url: str
) -> None:
    if peer_contenders.missing_peers():
        pytest.skip("the optional peers are not installed (pip install -e '.[peers]')")
    config = BenchConfig.smoke(postgres_url=postgres_url, redis_url=redis_url)

    [report] = await run(["peers"], config)

    hits, fills, local, herd, versus = report.tables
    assert [row[0] for row in hits.rows] == [
        "floor: redis-py GET + orjson",
        "QuLab",
        "cashews",
        "aiocache",
    ]
    assert [row[-1] for row in fills.rows][:2] == [2, 2]  # Redis commands per miss
    assert [row[0] for row in local.rows] == ["QuLab", "cashews", "aiocache"]
    qulab = herd.rows[0]
    assert qulab[0] == "QuLab"
    assert (qulab[4], qulab[6], qulab[7], qulab[8]) == (1, 0, 0, 0)  # loads, wrong, failed, stale
    assert [row[0] for row in versus.rows] == ["QuLab ÷ cashews", "QuLab ÷ aiocache"]
    assert len(report.targets) == 7
