"""The benchmarks run end to end with tiny sizes, so the harness cannot rot. Structure only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench.harness import BenchConfig, resolve, run, write_results


def test_all_expands_to_every_registered_benchmark_and_unknown_names_are_refused() -> None:
    names = resolve(["all"])
    assert {"nplusone", "pool"} <= set(names)
    with pytest.raises(KeyError, match="unknown benchmark"):
        resolve(["nplusone", "no-such-bench"])


async def test_nplusone_and_pool_benchmarks_produce_tables_targets_and_results(
    tmp_path: Path,
    postgres_url: str,
) -> None:
    config = BenchConfig.smoke(postgres_url=postgres_url, sqlite_dir=tmp_path)

    reports = {report.name: report for report in await run(["nplusone", "pool"], config)}

    nplusone = reports["nplusone"]
    assert [table.title.split(":")[0] for table in nplusone.tables] == [
        "PostgreSQL",
        "SQLite (file, WAL)",
    ]
    for table in nplusone.tables:
        assert all(len(row) == len(table.columns) for row in table.rows)
        assert [row[0] for row in table.rows] == [2, 5]
        assert [row[2] for row in table.rows] == ["2", "2"]  # eager statements
        assert [row[1] for row in table.rows] == ["3", "6"]  # per-row statements
        assert {row[-1] for row in table.rows} == {"yes"}  # same data
    assert len(nplusone.targets) == 3
    assert nplusone.meta["config"] == {"rounds": 1, "warmup": 0, "quick": True}

    pool = reports["pool"]
    modes = [(row[0], row[1]) for row in pool.tables[0].rows]
    assert modes == [(1, "pooled"), (1, "NullPool"), (3, "pooled"), (3, "NullPool")]
    assert [row[6] for row in pool.tables[0].rows if row[1] == "NullPool"] == [12, 12]
    assert len(pool.targets) == 1

    json_path, md_path = write_results(list(reports.values()), tmp_path / "docs")
    stored = json.loads(json_path.read_text())
    assert set(stored["reports"]) == {"nplusone", "pool"}
    assert stored["machine"]["cpus"]
    text = md_path.read_text()
    assert "## N+1 vs eager loading (`nplusone`)" in text
    assert "quick sizes" in text
    assert not list(tmp_path.glob("qulab-bench-*"))  # the SQLite temp dir is removed


async def test_cache_strategies_benchmark_covers_the_grid_and_renders_its_document(
    tmp_path: Path,
    postgres_url: str,
    redis_url: str,
) -> None:
    from bench.cache_strategies import write_doc

    config = BenchConfig.smoke(postgres_url=postgres_url, redis_url=redis_url, sqlite_dir=tmp_path)
    (report,) = await run(["cache-strategies"], config)
    postgres, sqlite, propagation = report.tables
    for table in (postgres, sqlite):
        assert len(table.rows) == 9 * 6
        assert {(row[0], row[1]) for row in table.rows} == {
            (zipf, ratio) for zipf in (0.0, 0.8, 1.2) for ratio in ("50%", "90%", "99%")
        }
        assert {row[-1] for row in table.rows if row[2] != "ttl-only"} == {1}
    assert [row[0] for row in propagation.rows] == ["two-tier broadcast", "plain PUBLISH (floor)"]
    assert [row[1] for row in propagation.rows] == [50, 50]
    text = write_doc(report, tmp_path / "caching-strategies.md").read_text()
    assert text.startswith("# Caching strategies compared")
    assert "## What they teach" in text and "## PostgreSQL + Redis" in text


ORM_TAX_RUNGS = [
    "bare driver (fetch one row)",
    "Core select into UserRead",
    "ORM entity via UserRepository.get_by_id",
    "ORM entity, session in a transaction",
    "ORM entity, transaction + pre-ping always",
    "advanced-alchemy repository get",
]


async def test_orm_tax_ladder_has_every_rung_on_both_databases(
    tmp_path: Path, postgres_url: str
) -> None:
    config = BenchConfig.smoke(postgres_url=postgres_url, sqlite_dir=tmp_path)

    [report] = await run(["orm_tax"], config)

    targets = [target.description for target in report.targets]
    assert [table.title.split(":")[0] for table in report.tables] == ["PostgreSQL", "SQLite"]
    for table in report.tables:
        database = table.title.split(":")[0]
        assert [row[0] for row in table.rows] == ORM_TAX_RUNGS
        assert table.rows[0][3] == "1.00x"
        assert f"{database}: Core read model / bare driver" in targets
        peer_installed = table.rows[-1][1] != "not installed"
        peer_target = f"{database}: UserRepository.get_by_id (read session) / advanced-alchemy get"
        assert (peer_target in targets) == peer_installed
    assert not list(tmp_path.glob("qulab-bench-*"))
