"""A command that reads, run where no database was ever created, says so in one line and
leaves no empty ``qulab.db`` behind; the commands that build the schema still create it."""

from __future__ import annotations

from pathlib import Path

import pytest

from qulab.core.config import get_settings
from tests.cli.conftest import Invoke

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

NOT_INITIALISED = (
    "error: the database is not initialised: qulab.db does not exist; "
    "run `qulab db upgrade` (or `qulab setup`) to create it\n"
)


@pytest.fixture
def empty_directory(qulab: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default configuration (``./qulab.db``) in a directory holding nothing."""
    directory = tmp_path / "empty"
    directory.mkdir()
    monkeypatch.chdir(directory)
    monkeypatch.delenv("QULAB_DATABASE_URL")
    get_settings.cache_clear()
    return directory


@pytest.mark.parametrize(
    "args",
    [
        ["user", "list"],
        ["user", "list", "--json"],
        ["user", "show", "00000000-0000-4000-8000-000000000000"],
        ["outbox", "status"],
        ["db", "current"],
        ["outbox", "relay", "--once", "--yes"],
        ["consume", "run", "score-summary", "--once"],
        ["consume", "status"],
    ],
)
def test_a_reading_command_says_not_initialised_and_creates_no_file(
    qulab: Invoke, empty_directory: Path, args: list[str]
) -> None:
    result = qulab(*args)
    assert (result.code, result.out, result.err) == (2, "", NOT_INITIALISED)
    assert list(empty_directory.iterdir()) == []


def test_db_upgrade_still_creates_the_database(qulab: Invoke, empty_directory: Path) -> None:
    assert qulab("db", "upgrade").code == 0
    assert [path.name for path in empty_directory.iterdir()] == ["qulab.db"]
    listed = qulab("user", "list", "--json")
    assert listed.code == 0 and '"total": 0' in listed.out
