from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench.harness import BenchConfig, Report, Samples, Table, Target, write_results


def test_samples_report_median_percentiles_and_relative_spread() -> None:
    samples = Samples("case", [0.3, 0.1, 0.2, 0.4, 0.5])
    assert samples.median == 0.3
    assert samples.percentile(95) == 0.5
    assert samples.spread == (0.5 - 0.1) / 0.3


def test_missed_target_is_marked_with_what_limits_it(tmp_path: Path) -> None:
    report = Report(
        "demo",
        "Demo",
        tables=[Table("t", ["a", "b"], [[1, 2.5]])],
        targets=[
            Target("ratio", 2.0, 3.0, higher_is_better=True, limits="the network is fast"),
            Target("count", 2.0, 2.0, higher_is_better=False, limits="not shown when met"),
        ],
    )
    json_path, md_path = write_results([report], tmp_path)
    text = md_path.read_text()
    assert "| ratio | 2.00 | >= 3.00 | **NO** | the network is fast |" in text
    assert "| count | 2.00 | <= 2.00 | yes |  |" in text
    stored = json.loads(json_path.read_text())["reports"]["demo"]
    assert stored["targets_met"] is False


def test_results_of_other_benchmarks_are_kept_when_one_is_rerun(tmp_path: Path) -> None:
    write_results([Report("a", "A"), Report("b", "B", notes=["old"])], tmp_path)
    write_results([Report("b", "B", notes=["new"])], tmp_path)
    stored = json.loads((tmp_path / "benchmarks.json").read_text())["reports"]
    assert set(stored) == {"a", "b"}
    assert stored["b"]["notes"] == ["new"]


def test_postgres_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QULAB_BENCH_POSTGRES_URL", "postgresql+asyncpg://u@h:1/x")
    assert BenchConfig().postgres_url == "postgresql+asyncpg://u@h:1/x"
    monkeypatch.delenv("QULAB_BENCH_POSTGRES_URL")
    monkeypatch.delenv("QULAB_DATABASE_URL", raising=False)
    assert BenchConfig().postgres_url is None  # no server assumed: only what is configured
    smoke = BenchConfig.smoke()
    assert (smoke.rounds, smoke.warmup, smoke.quick) == (1, 0, True)
