"""``qulab outbox status --watch``: a dashboard redrawn in place on a terminal, plain blocks (or
JSON lines) when piped, and Ctrl-C ends it with exit 0."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import signal
import subprocess
import sys

import pytest

from qulab.core.config import Settings, get_settings
from qulab.core.db import Database
from tests import services
from tests.cli.conftest import Invoke
from tests.outbox_helpers import emit_events

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

HEADER = "outbox status at "
CLEAR_SCREEN = "\x1b[2J"


@pytest.fixture
def two_pending(qulab: Invoke, database_url: str) -> Invoke:
    assert qulab("db", "upgrade").code == 0

    async def _emit() -> None:
        db = Database(Settings().replace(database_url=database_url))
        try:
            await emit_events(db, 2)
        finally:
            await db.dispose()

    asyncio.run(_emit())
    return qulab


def _env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QULAB_")}
    return env | {"QULAB_DATABASE_URL": database_url, "COLUMNS": "100"}


def test_piped_each_refresh_is_a_block_under_a_header(two_pending: Invoke) -> None:
    result = two_pending("outbox", "status", "--watch", "--interval", "0.01", "--count", "3")

    assert (result.code, result.err) == (0, "")
    blocks = result.out.split(HEADER)[1:]
    assert len(blocks) == 3
    for block in blocks:
        assert block.split("\n", 1)[0].endswith(" UTC, every 0.01s; Ctrl-C to stop")
        # Piped, a table is plain columns: the name, then the value.
        rows = dict(line.split(None, 1) for line in block.splitlines()[1:] if " " in line.strip())
        assert (rows["pending"], rows["published"], rows["failed"]) == ("2", "0", "0")
    assert CLEAR_SCREEN not in result.out


def test_with_json_each_refresh_is_one_line_of_json(two_pending: Invoke) -> None:
    result = two_pending(
        "outbox", "status", "--watch", "--json", "--interval", "0.01", "--count", "2"
    )

    assert (result.code, result.err) == (0, "")
    lines = result.out.splitlines()
    assert len(lines) == 2
    for line in lines:
        entry = json.loads(line)
        assert entry["counts"] == {"pending": 2, "published": 0, "failed": 0}
        assert entry["at"].endswith("+00:00")


def test_on_a_terminal_each_refresh_redraws_the_screen(
    two_pending: Invoke, database_url: str
) -> None:
    leader, follower = pty.openpty()
    args = ["outbox", "status", "--watch", "--interval", "0.01", "--count", "2"]
    with subprocess.Popen(
        [sys.executable, "-m", "qulab", *args],
        env=_env(database_url),
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=subprocess.PIPE,
    ) as process:
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            shown += chunk
        assert process.stderr is not None
        err = process.stderr.read().decode()
        code = process.wait(30)
    os.close(leader)
    text = shown.decode()
    assert (code, err) == (0, "")
    assert text.count(CLEAR_SCREEN) == 2
    assert text.count(HEADER) == 2
    assert text.rindex(CLEAR_SCREEN) < text.rindex(HEADER)  # cleared, then drawn


def test_ctrl_c_ends_the_watch_with_exit_0(two_pending: Invoke, database_url: str) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "qulab", "outbox", "status", "--watch", "--interval", "0.05"],
        env=_env(database_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        first = process.stdout.readline()
        assert first.startswith(HEADER), first + process.stderr.read()
        process.send_signal(signal.SIGINT)
        rest = process.stdout.read()
        err = process.stderr.read()
        code = process.wait(30)
    assert (code, err) == (0, "")
    # The refresh under way finished (its last row is the lag), then nothing more.
    assert rest.endswith("\n\n") and rest.splitlines()[-2].startswith("lag ")


def test_an_interval_without_watch_is_one_line_and_exit_2(two_pending: Invoke) -> None:
    result = two_pending("outbox", "status", "--interval", "5")

    assert (result.code, result.out) == (2, "")
    assert result.err == "error: --interval: sets how often --watch refreshes; add --watch\n"


def test_a_refresh_that_cannot_read_the_database_is_one_line_and_the_next_tries_again(
    qulab: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = f"postgresql+asyncpg://postgres@127.0.0.1:{services.free_port()}/nothing"
    monkeypatch.setenv("QULAB_DATABASE_URL", closed)
    monkeypatch.setenv("QULAB_DB_CONNECT_TIMEOUT", "2")
    get_settings.cache_clear()

    result = qulab("outbox", "status", "--watch", "--interval", "0.01", "--count", "2")

    assert (result.code, result.out) == (0, "")
    lines = result.err.splitlines()
    assert len(lines) == 2
    for line in lines:
        assert re.fullmatch(r"\d\d:\d\d:\d\d error: database unreachable: .*", line), line
