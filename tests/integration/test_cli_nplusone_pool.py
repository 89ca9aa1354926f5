from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qulab.core.config import Settings, get_settings
from qulab.core.db import Database
from qulab.entrypoints.cli import main


@pytest.fixture
def configured(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """The CLI reads the parametrized test database from the environment."""
    monkeypatch.setenv("QULAB_DATABASE_URL", settings.database.url)
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main([*argv, "--json"]) == 0
    found: dict[str, Any] = json.loads(capsys.readouterr().out)
    return found


def test_nplusone_json_carries_both_statement_counts_and_seeds_once(
    configured: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    first = run_json(capsys, "nplusone", "--users", "7", "--scores", "2")
    assert first["seeded_now"] is True
    assert first["per_row"]["statements"] == 8
    assert first["eager"]["statements"] == 2
    assert first["per_row"]["scores"] == first["eager"]["scores"] == 14
    assert first["identical_data"] is True
    assert first["database"].split()[0] in {"SQLite", "PostgreSQL"}

    again = run_json(capsys, "nplusone", "--users", "5", "--scores", "2")
    assert again["seeded_now"] is False
    assert again["per_row"]["statements"] == 6


def test_pool_json_reports_both_modes(
    configured: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    data = run_json(capsys, "pool", "--concurrency", "3", "--requests", "9")
    assert data["pooled"]["requests"] == data["null_pool"]["requests"] == 9
    assert data["null_pool"]["connections_opened"] == 9
    assert data["pooled"]["peak_checked_out"] <= 3
    assert data["throughput_ratio"] > 0


def test_pool_exhaust_json_shows_the_timeouts(
    configured: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    data = run_json(capsys, "pool", "--exhaust")
    assert (data["acquired"], data["timed_out"]) == (2, 3)
    assert "pool exhausted" in data["error"]


def test_nplusone_rejects_zero_users(
    configured: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["nplusone", "--users", "0"]) == 2
    assert "--users" in capsys.readouterr().err


def test_bench_refuses_unknown_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "no-such-bench", "--quick"]) == 2
    assert "unknown benchmark" in capsys.readouterr().err


def test_bench_outside_a_checkout_says_so(tmp_path: Path) -> None:
    from qulab.core.errors import UserError
    from qulab.entrypoints.cli.lab.bench import find_checkout

    with pytest.raises(UserError, match="source checkout"):
        find_checkout(tmp_path, installed=False)
    assert (find_checkout(Path(__file__).parent, installed=False) / "bench").is_dir()
