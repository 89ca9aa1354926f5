"""Page 5's "Polling vs log-tailing" step: what it needs on the embedded SQLite default, and on
a PostgreSQL with ``wal_level=logical`` both relays' costs on the same events."""

from __future__ import annotations

from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from qulab.entrypoints.app.navigation import EVENTING
from qulab.entrypoints.app.relay_modes_view import COMPARE_LABEL, RELAY_NAMES
from qulab.entrypoints.app.sections import eventing
from qulab.entrypoints.app.steps import step_labels
from qulab.lab.private_postgres import PrivateCluster
from qulab.lab.relay_modes import START_COMMAND
from tests.app.helpers import go_to, no_exception, open_runtime, texts
from tests.wal_helpers import create_wal_database, drop_wal_database

STEP = "Polling vs log-tailing"


def _step(at: AppTest) -> Any:
    label = step_labels(eventing.STEPS)[eventing.STEPS.index(STEP)]
    [tab] = [tab for tab in at.tabs if tab.label == label]
    return tab


def test_on_the_embedded_sqlite_the_step_says_what_it_needs_and_how(sqlite_url: str) -> None:
    at = go_to(open_runtime(), EVENTING)
    no_exception(at)
    step = _step(at)
    [needs] = texts(step.info)
    assert needs.startswith("The lab's database is sqlite.")
    assert "wal_level=logical" in needs and f"`{START_COMMAND}`" in needs
    [how] = [str(code.value) for code in step.code]
    assert how.splitlines()[0] == START_COMMAND
    assert "export QULAB_DATABASE_URL=" in how and "export QULAB_DATABASE_REPLICA_URLS=" in how
    assert COMPARE_LABEL not in [b.label for b in step.button]


@pytest.fixture
def logical_lab_url(logical_postgres: PrivateCluster, monkeypatch: pytest.MonkeyPatch) -> Any:
    url = create_wal_database(logical_postgres)
    monkeypatch.setenv("QULAB_DATABASE_URL", url)
    yield url
    drop_wal_database(logical_postgres, url)


def test_on_logical_postgres_the_step_shows_both_relays_on_the_same_events(
    logical_lab_url: str,
) -> None:
    at = go_to(open_runtime(), EVENTING)
    no_exception(at)
    step = _step(at)
    assert texts(step.info) == []
    step.number_input(key="relay_modes_events").set_value(20)
    [button] = [b for b in step.button if b.label == COMPARE_LABEL]
    button.click().run()
    no_exception(at)
    step = _step(at)
    [table] = [frame.value for frame in step.dataframe]
    rows = {row["relay"]: row for row in table.to_dict("records")}
    polling, wal = rows[RELAY_NAMES["polling"]], rows[RELAY_NAMES["wal"]]
    assert (polling["events published"], wal["events published"]) == (20, 20)
    assert (polling["rows marked published"], wal["rows marked published"]) == (20, 0)
    assert (polling["rows deleted"], wal["rows deleted"]) == (0, 20)
    assert polling["round trips"] > 0 and wal["round trips"] > 0
    assert any("the same event ids, in the same order" in text for text in texts(step.markdown))
    metrics = {m.label: str(m.value) for m in step.metric}
    assert metrics["Before the drain"] != metrics["After the drain"]
    assert metrics["Retained, relay stopped"].endswith("KiB")
