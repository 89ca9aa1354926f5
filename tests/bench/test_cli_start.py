"""The ``cli_start`` benchmark runs whole commands against a floor, in one table. Structure only:
timings are for ``qulab bench cli_start``, never asserted here."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.cli_start import BUDGETS, FLOOR, PROFILED, cases, import_profile, user_environment
from bench.harness import BenchConfig, resolve, run


def test_cli_start_is_registered() -> None:
    assert "cli_start" in resolve(["all"])


async def test_every_case_runs_and_is_measured_against_the_floor() -> None:
    [report] = await run(["cli_start"], BenchConfig.smoke())

    table, imports = report.tables
    assert [row[0] for row in table.rows] == list(cases())
    assert all(len(row) == len(table.columns) for row in table.rows)
    floor_row = table.rows[0]
    assert (floor_row[0], floor_row[2]) == (FLOOR, 0)
    assert [target.description.split(":")[0] for target in report.targets] == list(BUDGETS)
    assert {summary["n"] for summary in report.raw["wall"].values()} == {2}
    assert PROFILED in imports.title and imports.rows[-1][0] == "everything else"
    assert {"sqlalchemy", "qulab"} <= {row[0] for row in imports.rows}
    assert abs(sum(row[2] for row in imports.rows) - 1) < 1e-9


def test_the_import_profile_sums_self_times_by_top_level_package() -> None:
    stderr = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       100 |        100 |     sqlalchemy.sql\n"
        "import time:        50 |        150 |   sqlalchemy\n"
        "import time:        30 |         30 |   qulab.core.config\n"
        "import time:        20 |        200 | qulab\n"
        "some other line\n"
    )
    assert import_profile(stderr) == {"sqlalchemy": 150e-6, "qulab": 50e-6}


def test_commands_run_with_bytecode_cached_as_a_users_python_would(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setenv("QULAB_DATABASE_URL", "sqlite+aiosqlite:///elsewhere.db")
    env = user_environment(str(tmp_path))
    assert "PYTHONDONTWRITEBYTECODE" not in env and "QULAB_DATABASE_URL" not in env
    assert env["PYTHONPYCACHEPREFIX"] == str(tmp_path / "pycache")
