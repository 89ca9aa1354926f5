"""Page 6: on the embedded default (or PostgreSQL without replicas) it says what it needs and
the command that starts it; on a primary with a standby it shows both servers, pauses and
resumes replay, shows the stale read and the token's fresh one, and the cache race with no
stale read."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from streamlit.testing.v1 import AppTest

from qulab.entrypoints.app.navigation import SCALING
from qulab.entrypoints.app.scaling_view import (
    NEEDS_TITLE,
    PAUSE_LABEL,
    POISON_LABEL,
    RESUME_LABEL,
    WRITE_READ_LABEL,
)
from qulab.entrypoints.app.sections import scaling as scaling_page
from qulab.entrypoints.app.steps import step_labels
from qulab.lab import scaling
from qulab.lab.private_postgres import PrivateCluster
from tests.app.helpers import go_to, no_exception, open_runtime, shown, texts
from tests.replica_support import caught_up, replicated_database

__all__ = ["replicated_database"]  # the fixture, used by name


def _tab(at: AppTest, index: int) -> Any:
    label = step_labels(scaling_page.STEPS)[index]
    return next(tab for tab in at.tabs if tab.label == label)


def _click(at: AppTest, label: str) -> AppTest:
    next(button for button in at.button if button.label == label).click().run()
    no_exception(at)
    return at


def _frame(at: AppTest, column: str) -> list[dict[str, Any]]:
    for frame in at.dataframe:
        if column in frame.value.columns:
            return list(frame.value.to_dict("records"))
    return []


def test_without_replicas_the_page_says_what_it_needs_and_how_to_start_it(
    lab_url: str,
) -> None:
    at = go_to(open_runtime(), SCALING)
    no_exception(at)
    first = _tab(at, 0)
    [needs] = [text for text in shown(first.info) if NEEDS_TITLE in text]
    where = "SQLite" if lab_url.startswith("sqlite") else "PostgreSQL"
    assert f"QuLab is on {where} " in needs and "without read replicas" in needs
    assert [str(code.value) for code in first.code] == [scaling.START_COMMAND]
    assert "QULAB_DATABASE_REPLICA_URLS" in " ".join(shown(first.markdown))
    assert not [b for b in at.button if b.label in (PAUSE_LABEL, WRITE_READ_LABEL, POISON_LABEL)]
    for index in (1, 2):
        assert "Do step 1 (The servers) first" in " ".join(texts(_tab(at, index).caption))


@pytest.fixture
def replicated_lab(
    replicated_postgres: PrivateCluster,
    replicated_database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[PrivateCluster]:
    """The app pointed at a database of this run on the private primary and its standby; the
    standby replays again afterwards, whatever the test left."""
    monkeypatch.setenv("QULAB_DATABASE_URL", replicated_postgres.primary.url(replicated_database))
    standby = replicated_postgres.standbys[0].url(replicated_database)
    monkeypatch.setenv("QULAB_DATABASE_REPLICA_URLS", standby)
    try:
        yield replicated_postgres
    finally:
        asyncio.run(_resume(replicated_postgres))


async def _resume(cluster: PrivateCluster) -> None:
    conn = await asyncpg.connect(cluster.standbys[0].dsn(), timeout=5)
    try:
        await conn.execute("SELECT pg_wal_replay_resume()")
    finally:
        await conn.close()


async def test_on_a_primary_and_a_standby_the_page_pauses_replay_and_shows_the_stale_read(
    replicated_lab: PrivateCluster,
) -> None:
    await caught_up(replicated_lab)
    at = go_to(open_runtime(), SCALING)
    no_exception(at)
    servers = _frame(at, "replay lag")
    assert [row["server"] for row in servers] == ["primary", "replica"]
    assert servers[1]["replay"] == "running"
    assert str(replicated_lab.standbys[0].port) in servers[1]["address"]
    try:
        _click(at, PAUSE_LABEL)
        assert _frame(at, "replay lag")[1]["replay"] == "paused"
    finally:
        _click(at, RESUME_LABEL)
    assert _frame(at, "replay lag")[1]["replay"] == "running"

    _click(at, WRITE_READ_LABEL)
    reads = {row["read"]: row for row in _frame(at, "name seen")}
    assert reads["without the token"]["served by"] == "replica"
    assert reads["without the token"]["stale"] == "yes"
    assert reads["with the token"]["stale"] == "no"
    assert any(text.startswith("Stale read: the replica") for text in texts(at.warning))
    assert any(text.startswith("Read-your-writes:") for text in texts(at.success))

    _click(at, POISON_LABEL)
    metrics = {str(metric.label): str(metric.value) for metric in at.metric}
    assert metrics["Stale reads (guarded)"] == "0"
    assert metrics["Reads through the cache"] == str(scaling.READERS)
    assert any(text.startswith("Without the guard:") for text in texts(at.warning))
    assert f"With the guard: {scaling.READERS} readers, 0 stale reads." in texts(at.success)
