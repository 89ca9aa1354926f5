"""Files QuLab writes next to a SQLite database never show up as changes in a checkout."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "path", ["qulab.db", "qulab.db-wal", "qulab.db.relay.lock", "x/y.db.relay.lock"]
)
def test_sqlite_files_and_the_relay_lock_are_ignored(path: str) -> None:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(
        [git, "check-ignore", "--no-index", "-q", path], cwd=ROOT, capture_output=True
    )
    assert result.returncode == 0, f"{path} is not git-ignored"
