"""Database problems reach the user as one line: exit 2 for a mistake they can fix (login,
database name, schema, revision, SQLite path), exit 1 for a database that cannot be reached."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from qulab.core.config import get_settings
from tests import services
from tests.cli.conftest import Invoke, Result
from tests.pg_fakes import refusing_postgres, silent_postgres


def _use(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("QULAB_DATABASE_URL", url)
    get_settings.cache_clear()


def _qulab_process(url: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QULAB_")}
    env |= {"QULAB_DATABASE_URL": url, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "qulab", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_database_without_the_schema_says_to_run_db_upgrade(
    qulab: Invoke, database_url: str
) -> None:
    if database_url.startswith("sqlite"):  # an existing file; none at all is "not initialised"
        Path(database_url.partition(":///")[2]).touch()
    result = qulab("user", "list")
    assert result.code == 2
    assert result.err.startswith("error: the database has no QuLab schema")
    assert result.err.rstrip("\n").endswith("run `qulab db upgrade`")
    assert result.err.count("\n") == 1


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_missing_postgresql_database_is_named_and_exit_2(
    qulab: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = services.unique_name("qulab_test_absent")
    _use(monkeypatch, services.with_database(services.POSTGRES_URL, name))
    result = qulab("user", "list")
    assert (result.code, result.err) == (
        2,
        f'error: QULAB_DATABASE_URL: database "{name}" does not exist\n',
    )


@pytest.mark.parametrize("backend", ["postgresql"])
def test_an_unknown_role_is_a_refused_login_and_exit_2(
    qulab: Invoke, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    role = services.unique_name("qulab_test_nobody")
    _use(monkeypatch, database_url.replace("://postgres@", f"://{role}@", 1))
    result = qulab("user", "list")
    refused = "error: QULAB_DATABASE_URL: the database refused the login"
    assert (result.code, result.err) == (2, f'{refused}: role "{role}" does not exist\n')


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_refused_password_is_exit_2_and_names_the_setting(
    qulab: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = 'password authentication failed for user "lab"'
    with refusing_postgres("28P01", message) as port:
        _use(monkeypatch, f"postgresql+asyncpg://lab:wrong@127.0.0.1:{port}/qulab")
        result = qulab("user", "list")
    assert (result.code, result.err) == (
        2,
        f"error: QULAB_DATABASE_URL: the database refused the login: {message}\n",
    )


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(
    "command", [["upgrade"], ["downgrade", "--yes"], ["downgrade", "--dry-run"]]
)
def test_an_unknown_revision_is_exit_2(qulab: Invoke, command: list[str]) -> None:
    if command[0] == "downgrade":
        assert qulab("db", "upgrade").code == 0  # a downgrade needs a database to work on
    result = qulab("db", *command, "nosuchrev")
    assert result.code == 2
    assert result.err == (
        "error: REVISION: Can't locate revision identified by 'nosuchrev' "
        "(see `qulab db current`)\n"
    )


def test_an_unopenable_sqlite_path_is_one_line_without_a_thread_traceback(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'qulab.db'}"
    result = _qulab_process(url, "user", "list", timeout=60)
    assert result.returncode == 2
    assert result.stderr == (
        "error: QULAB_DATABASE_URL: cannot open the SQLite file: unable to open database file\n"
    )


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("connect_timeout", [None, 1.5])
def test_a_postgresql_that_never_answers_fails_within_the_connect_timeout(
    qulab: Invoke, monkeypatch: pytest.MonkeyPatch, connect_timeout: float | None
) -> None:
    """QULAB_DB_CONNECT_TIMEOUT (default 5 s) bounds the wait; the command gets 2 s more."""
    if connect_timeout is not None:
        monkeypatch.setenv("QULAB_DB_CONNECT_TIMEOUT", str(connect_timeout))
    results: list[Result] = []
    with silent_postgres() as port:
        _use(monkeypatch, f"postgresql+asyncpg://postgres@127.0.0.1:{port}/qulab")
        worker = threading.Thread(target=lambda: results.append(qulab("user", "list")))
        worker.daemon = True
        worker.start()
        worker.join((connect_timeout or 5.0) + 2.0)
    assert results, "the command was still waiting for the database"
    assert results[0].code == 1
    assert results[0].err == (
        "error: database unreachable: no answer in time "
        "(QULAB_DB_CONNECT_TIMEOUT, QULAB_DB_STATEMENT_TIMEOUT)\n"
    )
