"""One CLI shape: every command takes --json, the README lists every command, a usage mistake
is one line naming the flag, and a database URL may name no driver."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer import _click as click
from typer.core import TyperGroup

from qulab.core.config import get_settings
from qulab.entrypoints.cli import app
from tests.cli.conftest import Invoke

README = Path(__file__).resolve().parents[2] / "README.md"


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """Every command under ``command``, looked up as Click does (the top-level group loads
    each command's module on look-up)."""
    if isinstance(command, TyperGroup):
        context = click.Context(command)
        for name in sorted(command.list_commands(context)):
            yield from _commands(command.get_command(context, name), (*path, name))
    else:
        yield " ".join(path), command


COMMANDS = dict(_commands(typer.main.get_command(app)))


def test_the_walk_finds_the_commands_of_every_group() -> None:
    assert {"user list", "consume run", "consume status", "cache compare", "app"} <= set(COMMANDS)
    assert len(COMMANDS) >= 29


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_command_takes_json(path: str) -> None:
    options = [opt for param in COMMANDS[path].params for opt in getattr(param, "opts", [])]
    assert "--json" in options


def _readme_commands() -> list[str]:
    """The command of each row of the README's command table: the longest run of its first
    words that is a command (the whole usage, when none is: a row for a command that is gone)."""
    section = README.read_text(encoding="utf-8").split("\n## The `qulab` command\n", 1)[1]
    rows = [line for line in section.split("\n## ", 1)[0].splitlines() if line.startswith("| `")]
    found = []
    for row in rows:
        usage = re.match(r"\| `qulab ([^`]*)`", row)
        assert usage is not None, row
        words = usage.group(1).split()
        prefixes = [" ".join(words[:n]) for n in range(len(words), 0, -1)]
        found.append(next((p for p in prefixes if p in COMMANDS), usage.group(1)))
    return found


def test_the_readme_command_table_lists_every_command_once() -> None:
    listed = _readme_commands()
    assert sorted(listed) == sorted(COMMANDS)


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ("user", "list", "--limit", "0"),
            "error: invalid value for '--limit': Input should be greater than or equal to 1 "
            "(see `qulab user list --help`)",
        ),
        (
            ("user", "list", "--bogus"),
            "error: no such option: --bogus (see `qulab user list --help`)",
        ),
        (
            ("user", "create", "--name", "N"),
            "error: missing option '--email' (see `qulab user create --help`)",
        ),
        (("frobnicate",), "error: no such command 'frobnicate' (see `qulab --help`)"),
        (
            ("consume", "score-summary"),
            "error: no such command 'score-summary' (see `qulab consume --help`)",
        ),
    ],
)
def test_a_usage_mistake_is_one_line_and_exit_2(
    qulab: Invoke, args: tuple[str, ...], line: str
) -> None:
    result = qulab(*args)
    assert (result.code, result.out, result.err) == (2, "", line + "\n")


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ("user", "create", "--email", "a@example.com", "--name", "N", "--years", "99"),
            "error: --years: Input should be less than or equal to 80",
        ),
        (
            ("user", "create", "--email", "a@example.com", "--name", "N", "--occupation", "X" * 21),
            "error: --occupation: String should have at most 20 characters",
        ),
        (("user", "show", "nope"), "error: ID: 'nope' is not a valid UUID"),
        (("score", "add", "nope"), "error: USER_ID: 'nope' is not a valid UUID"),
        (
            ("cache", "compare", "--read-ratio", "2"),
            "error: --read-ratio: must be between 0 and 1, got 2",
        ),
    ],
)
def test_a_refused_value_names_the_flag_the_user_typed(
    qulab: Invoke, args: tuple[str, ...], line: str
) -> None:
    assert qulab("db", "upgrade").code == 0
    result = qulab(*args)
    assert (result.code, result.out, result.err) == (2, "", line + "\n")


@pytest.mark.parametrize("backend", ["postgresql"])
@pytest.mark.parametrize("scheme", ["postgresql://", "postgres://"])
def test_a_postgres_url_without_a_driver_means_asyncpg(
    qulab: Invoke, database_url: str, monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    bare = database_url.replace("postgresql+asyncpg://", scheme, 1)
    monkeypatch.setenv("QULAB_DATABASE_URL", bare)
    get_settings.cache_clear()
    assert get_settings().database.url == database_url
    upgraded = qulab("db", "upgrade", "--json")
    assert upgraded.code == 0, upgraded.err
    created = qulab("user", "create", "--email", "pg@example.com", "--name", "P", "--json")
    assert created.code == 0, created.err
    listed = json.loads(qulab("user", "list", "--json").out)
    assert [user["email"] for user in listed["users"]] == ["pg@example.com"]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_sqlite_url_without_a_driver_means_aiosqlite(
    qulab: Invoke, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "QULAB_DATABASE_URL", database_url.replace("sqlite+aiosqlite://", "sqlite://")
    )
    get_settings.cache_clear()
    assert get_settings().database.url == database_url
    assert qulab("db", "upgrade").code == 0
    assert json.loads(qulab("user", "list", "--json").out)["total"] == 0


@pytest.mark.parametrize("backend", ["sqlite"])
def test_db_reset_json_says_what_it_did(qulab: Invoke) -> None:
    assert qulab("db", "upgrade").code == 0
    result = qulab("db", "reset", "--yes", "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert (
        data["reset"] is True
        and data["revision"] == json.loads(qulab("db", "current", "--json").out)["revision"]
    )
