"""Tables for people and for scripts: on a terminal they fit its width without cutting an id,
an email or a number; anywhere else they are plain and whole, however narrow COLUMNS says."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import pytest
from rich.console import Console

from tests.cli.conftest import Invoke

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

EMAILS = ["a.very.long.address.for.testing@innovateai.example.com", "short@example.com"]


def without_styles(text: str) -> str:
    """What a terminal shows of ``text``: its characters, without the escape codes for bold."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


@pytest.fixture
def users(qulab: Invoke) -> list[dict[str, str]]:
    assert qulab("db", "upgrade").code == 0
    for n, email in enumerate(EMAILS):
        args = ("--email", email, "--name", f"Person Number {n}", "--occupation", "DATA_SCI")
        assert qulab("user", "create", *args).code == 0
    listed: list[dict[str, str]] = json.loads(qulab("user", "list", "--json").out)["users"]
    return listed


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """stdout is a terminal: the one thing a test's captured stdout cannot be."""
    monkeypatch.setattr(Console, "is_terminal", property(lambda _self: True))


def test_piped_output_is_plain_and_whole_however_narrow_the_columns(
    qulab: Invoke, users: list[dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    result = qulab("user", "list")
    assert result.code == 0, result.err
    title, header, *rows = result.out.splitlines()
    assert title == "2 users"
    assert header.split() == ["id", "email", "name", "occupation_code", "created_at"]
    for row, user in zip(rows, users, strict=True):
        assert row.split()[:2] == [user["id"], user["email"]]
        assert f"  {user['name']}  " in row
    assert "…" not in result.out and "│" not in result.out


def test_piped_record_and_score_headers_are_whole(
    qulab: Invoke, users: list[dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    user_id = users[0]["id"]
    shown = qulab("user", "show", user_id)
    assert shown.code == 0, shown.err
    assert f"id                {user_id}" in shown.out.splitlines()
    scored = qulab("score", "add", user_id)
    assert scored.code == 0, scored.err
    header = scored.out.splitlines()[1].split()
    assert header == [
        *("id", "occupation_code", "air_score", "vr_score", "hr_score", "synergy_score"),
        *("ci_lower", "ci_upper"),
    ]


@pytest.mark.usefixtures("terminal")
def test_on_a_narrow_terminal_low_value_columns_go_and_ids_stay_whole(
    qulab: Invoke, users: list[dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    result = qulab("user", "list")
    assert result.code == 0, result.err
    lines = without_styles(result.out).splitlines()
    assert max(len(line) for line in lines) <= 120
    assert "created_at" not in result.out and "occupation_code" not in result.out
    assert "…" not in result.out
    for user in users:
        [row] = [line for line in lines if user["id"] in line]
        assert user["email"] in row
    # the name wraps at its space rather than being cut
    assert "Person" in result.out and "Number" in result.out


@pytest.mark.usefixtures("terminal")
def test_on_a_wide_terminal_every_column_shows(
    qulab: Invoke, users: list[dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "220")
    result = qulab("user", "list")
    assert result.code == 0, result.err
    assert "created_at" in result.out and "occupation_code" in result.out
    for user in users:
        [row] = [line for line in result.out.splitlines() if user["id"] in line]
        assert user["email"] in row and user["name"] in row


@pytest.mark.usefixtures("terminal")
def test_a_terminal_record_never_cuts_the_id(
    qulab: Invoke, users: list[dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    result = qulab("user", "show", users[0]["id"])
    assert result.code == 0, result.err
    table = [line for line in without_styles(result.out).splitlines() if line[:1] in "┏┃┡│└"]
    assert any(users[0]["id"] in line for line in table)
    assert max(len(line) for line in table) <= 60
    assert "…" not in result.out


def _on_a_terminal(args: list[str], columns: int, env: dict[str, str]) -> str:
    """Run ``qulab ARGS`` with stdout on a pseudo-terminal ``columns`` wide; what it showed."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    environment = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    process = subprocess.Popen(
        [sys.executable, "-m", "qulab", *args],
        stdout=follower,
        stderr=subprocess.DEVNULL,
        env=environment | env | {"TERM": "xterm", "NO_COLOR": "1"},
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the command has exited
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=60) == 0
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode()).replace("\r", "")


def test_a_real_terminal_gets_a_table_that_fits_with_every_id_whole(
    users: list[dict[str, str]], database_url: str
) -> None:
    shown = _on_a_terminal(["user", "list"], 110, {"QULAB_DATABASE_URL": database_url})
    table = [line for line in shown.splitlines() if line[:1] in "┏┃┡│└"]
    assert table and max(len(line) for line in table) <= 110
    assert "created_at" not in shown and "…" not in shown
    for user in users:
        [row] = [line for line in table if user["id"] in line]
        assert user["email"] in row
