"""User data prints as the characters it is made of: no rich markup, no terminal control."""

from __future__ import annotations

import asyncio
import json

import pytest

from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.platform.models import User
from tests.cli.conftest import Invoke

# stored value -> what the terminal must show
HOSTILE = {
    "[/x]": "[/x]",
    "[red]x": "[red]x",
    "\x1b[31mred": "\\x1b[31mred",
    "abc\u202eevil": "abc\\u202eevil",
    ":cake: [bold]b[/bold]": ":cake: [bold]b[/bold]",
    "tab\there\r\x85\x7f": "tab\\x09here\\x0d\\x85\\x7f",
}
RAW_CONTROLS = ("\x1b", "\u202e", "\x85", "\x7f", "\r", "\t")


def _insert_unvalidated(database_url: str, names: list[str]) -> list[str]:
    """Rows written straight to the table, as data from before validation would be."""

    async def _go() -> list[str]:
        db = Database(Settings().replace(database_url=database_url))
        try:
            async with db.session_scope() as session:
                users = [
                    User(
                        email=f"hostile{n}@example.com",
                        name=name,
                        occupation_code=name[:20],
                        education_level=name,
                    )
                    for n, name in enumerate(names)
                ]
                session.add_all(users)
            return [user.id for user in users]
        finally:
            await db.dispose()

    return asyncio.run(_go())


@pytest.fixture
def migrated(qulab: Invoke) -> Invoke:
    assert qulab("db", "upgrade").code == 0
    return qulab


def _assert_no_raw_controls(text: str) -> None:
    for char in RAW_CONTROLS:
        assert char not in text, f"{char!r} reached the terminal"


@pytest.mark.parametrize("name", list(HOSTILE))
def test_user_show_prints_hostile_names_literally(
    migrated: Invoke, database_url: str, name: str
) -> None:
    [user_id] = _insert_unvalidated(database_url, [name])
    result = migrated("user", "show", user_id)
    assert result.code == 0, result.err
    assert result.err == ""
    shown = HOSTILE[name]
    fields = (line.partition(" ") for line in result.out.splitlines()[1:-1])
    record = {key: value.strip() for key, _, value in fields}
    assert record["name"] == shown
    assert shown in record["education_level"]
    _assert_no_raw_controls(result.out)


def test_user_list_prints_every_hostile_name_literally(migrated: Invoke, database_url: str) -> None:
    _insert_unvalidated(database_url, list(HOSTILE))
    result = migrated("user", "list", "--limit", "10")
    assert result.code == 0, result.err
    assert result.err == ""
    assert "6 users" in result.out
    header, *rows = result.out.splitlines()[1:]
    start, end = header.index("name"), header.index("occupation_code")
    assert [row[start:end].rstrip() for row in rows] == list(HOSTILE.values())
    _assert_no_raw_controls(result.out)


def test_json_output_escapes_controls_and_decodes_to_the_stored_value(
    migrated: Invoke, database_url: str
) -> None:
    [user_id] = _insert_unvalidated(database_url, ["abc\u202eevil\x1b[2J\x85"])
    result = migrated("user", "show", user_id, "--json")
    assert result.code == 0, result.err
    _assert_no_raw_controls(result.out)
    assert "abc\\u202eevil\\u001b[2J\\u0085" in result.out
    assert json.loads(result.out)["user"]["name"] == "abc\u202eevil\x1b[2J\x85"
    listed = migrated("user", "list", "--json")
    _assert_no_raw_controls(listed.out)
    assert [u["name"] for u in json.loads(listed.out)["users"]] == ["abc\u202eevil\x1b[2J\x85"]


@pytest.mark.parametrize("option", ["--name", "--occupation", "--education"])
@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("a\x00b", "U+0000"),
        ("a\x1b[31mb", "U+001B"),
        ("a\nb", "U+000A"),
        ("a\x85b", "U+0085"),
        ("abc\u202eevil", "U+202E"),
        ("a\u2066b", "U+2066"),
    ],
)
def test_control_characters_are_refused_naming_the_flag(
    migrated: Invoke, option: str, value: str, code: str
) -> None:
    base = {"--email": "c@example.com", "--name": "Plain Name"}
    args = [item for key, val in {**base, option: value}.items() for item in (key, val)]
    result = migrated("user", "create", *args)
    assert result.code == 2
    assert result.err == (
        f"error: {option}: must not contain control or bidirectional override characters ({code})\n"
    )
    assert json.loads(migrated("user", "list", "--json").out)["users"] == []


def test_update_refuses_a_control_character_and_changes_nothing(migrated: Invoke) -> None:
    created = migrated("user", "create", "--email", "u@example.com", "--name", "Before")
    assert created.code == 0, created.err
    user_id = created.out.strip()
    result = migrated("user", "update", user_id, "--name", "x\u202dy")
    assert result.code == 2
    assert result.err.startswith("error: --name: must not contain control")
    assert json.loads(migrated("user", "show", user_id, "--json").out)["user"]["name"] == "Before"
