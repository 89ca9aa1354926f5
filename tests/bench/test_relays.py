"""The ``relays`` benchmark runs end to end at tiny sizes on its private PostgreSQL with
``wal_level=logical``: every contender has its rows, every target is there. Structure only."""

from __future__ import annotations

import importlib.util

import pytest
from bench.harness import BenchConfig, run

from tests import services

pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated:DeprecationWarning")


async def test_relays_suite_measures_the_four_contenders_side_by_side(
    postgres_url: str, redis_url: str
) -> None:
    from qulab.core import ConfigurationError
    from qulab.lab.private_postgres import binaries

    try:
        binaries()
    except ConfigurationError as error:
        services.unavailable("PostgreSQL's server programs", str(error))
    peers = importlib.util.find_spec("pgqueuer") is not None
    config = BenchConfig.smoke(postgres_url=postgres_url, redis_url=redis_url)

    [report] = await run(["relays"], config)

    big, small, four, latency, producers = report.tables
    qulab = ["QuLab WAL relay", "QuLab ordered polling relay", "QuLab unordered polling relay"]
    pgqueuer, raw = "pgqueuer worker", "raw asyncpg loop"
    assert [row[0] for row in big.rows] == [
        *qulab,
        *((pgqueuer, raw) if peers else (raw, pgqueuer)),
    ]
    assert [row[0] for row in small.rows] == [*qulab, "pgqueuer worker"]
    for table in (big, small):
        measured = [row for row in table.rows if row[1] == 1]
        assert all(row[2] > 0 and row[4] >= 0 for row in measured)  # events/s, CPU per 10k
    assert [row[0] for row in four.rows] == ["QuLab ordered relays", "QuLab unordered relays"]
    contenders = [*qulab, "pgqueuer worker"] if peers else qulab
    assert [(row[0], row[1]) for row in latency.rows] == [
        (name, rate) for rate in (500, 1000) for name in contenders
    ]
    committed = [row[3] for row in latency.rows]
    assert all(committed) and [row[4] for row in latency.rows] == committed  # all on the stream
    assert [row[0] for row in producers.rows] == ["on", "off"]
    assert len(report.targets) == (7 if peers else 6)
    assert report.targets[0].description.startswith("WAL relay / ordered polling relay")
