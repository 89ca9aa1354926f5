"""Page 2: initialise the database, the sample users' ids, the reset, the live pool."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Button

from qulab.core.db import Database
from qulab.entrypoints.app.navigation import CONNECTIVITY, DATA_MODELS
from qulab.entrypoints.app.sections.connectivity import SETUP_LABEL
from qulab.lab import DEMO_USERS
from qulab.platform import UserCreate, create_user, migrate, parse, uow_factory
from tests.app.helpers import (
    go_to,
    no_exception,
    open_runtime,
    query,
    restart_server,
    texts,
    user_count,
    user_emails,
)
from tests.services import free_port

ALEX_EMAIL, JANE_EMAIL = DEMO_USERS[0][0], DEMO_USERS[1][0]


def _setup_button(at: AppTest) -> Button:
    return next(b for b in at.button if b.label == SETUP_LABEL)


def _shown_ids(at: AppTest) -> dict[str, str]:
    ids = {}
    for line in texts(at.markdown):
        for name in ("Alex Smith", "Jane Doe"):
            prefix = f"**{name} user ID:** `"
            if line.startswith(prefix):
                ids[name] = line.removeprefix(prefix).rstrip("`")
    return ids


def test_initialise_creates_the_schema_and_shows_alex_and_jane_ids(lab_url: str) -> None:
    at = go_to(open_runtime(), CONNECTIVITY)
    no_exception(at)
    assert texts(at.warning) == [
        f"The database is not initialised yet: click “{SETUP_LABEL}” above."
    ]

    _setup_button(at).click().run()
    no_exception(at)
    rows = user_emails(lab_url)
    successes = texts(at.success)
    assert successes[0].endswith(f"schema at revision {migrate.head_revision()}.")
    assert f"Alex Smith created (ID: {rows[ALEX_EMAIL]})" in successes
    assert f"Jane Doe created (ID: {rows[JANE_EMAIL]})" in successes
    assert _shown_ids(at) == {"Alex Smith": rows[ALEX_EMAIL], "Jane Doe": rows[JANE_EMAIL]}
    assert at.session_state["sample_user_ids"] == _shown_ids(at)
    assert not at.warning


def test_initialising_again_changes_nothing(lab_url: str) -> None:
    at = go_to(open_runtime(), CONNECTIVITY)
    _setup_button(at).click().run()
    before = user_emails(lab_url)
    _setup_button(at).click().run()
    no_exception(at)
    assert f"Alex Smith already present (ID: {before[ALEX_EMAIL]})" in texts(at.success)
    assert user_emails(lab_url) == before


def test_sample_user_ids_are_read_from_the_database_after_a_server_restart(
    lab_url: str,
) -> None:
    at = go_to(open_runtime(), CONNECTIVITY)
    _setup_button(at).click().run()
    shown = _shown_ids(at)

    restart_server()
    again = go_to(open_runtime(), CONNECTIVITY)
    no_exception(again)
    assert _shown_ids(again) == shown
    assert "The database is initialised and ready." in texts(again.success)
    sidebar = texts(again.sidebar.markdown)
    assert f"**Schema:** :green[revision {migrate.head_revision()}]" in sidebar


def test_reset_needs_confirmation_and_leaves_only_fresh_sample_users(sqlite_url: str) -> None:
    at = go_to(open_runtime(), CONNECTIVITY)
    _setup_button(at).click().run()
    old = _shown_ids(at)
    go_to(at, DATA_MODELS)
    at.text_input(key="new_user_email").input("extra@example.com")
    at.text_input(key="new_user_name").input("Extra Person")
    at.button(key="create_user_submit").click().run()
    assert user_count(sqlite_url) == 3

    go_to(at, CONNECTIVITY)
    assert at.button(key="reset_button").disabled
    at.checkbox(key="reset_confirmed").check().run()
    assert not at.button(key="reset_button").disabled
    at.button(key="reset_button").click().run()
    no_exception(at)

    rows = user_emails(sqlite_url)
    assert set(rows) == {ALEX_EMAIL, JANE_EMAIL}
    assert set(rows.values()).isdisjoint(old.values())
    assert texts(at.success)[0].startswith("Reset and migrated SQLite")
    assert _shown_ids(at) == {"Alex Smith": rows[ALEX_EMAIL], "Jane Doe": rows[JANE_EMAIL]}
    assert "created_user_id" not in at.session_state
    assert at.checkbox(key="reset_confirmed").value is False


def test_on_postgresql_the_reset_removes_only_the_labs_own_rows(
    fresh_pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = fresh_pg_url
    monkeypatch.setenv("QULAB_DATABASE_URL", url)
    at = go_to(open_runtime(), CONNECTIVITY)
    labels = [button.label for button in at.button]
    assert "Reset database" not in labels  # nothing is dropped on a shared database
    _setup_button(at).click().run()
    old = _shown_ids(at)
    go_to(at, DATA_MODELS)
    at.text_input(key="new_user_email").input("mine@example.com")
    at.text_input(key="new_user_name").input("Mine")
    at.button(key="create_user_submit").click().run()
    query(url, _someone_else)
    assert user_count(url) == 4

    go_to(at, CONNECTIVITY)
    assert at.button(key="reset_button").label == "Reset the lab's rows"
    assert at.button(key="reset_button").disabled
    at.checkbox(key="reset_confirmed").check().run()
    at.button(key="reset_button").click().run()
    no_exception(at)

    rows = user_emails(url)
    assert set(rows) == {ALEX_EMAIL, JANE_EMAIL, "someone@example.com"}
    assert set(rows.values()).isdisjoint(old.values())
    assert "Removed the lab's 3 users" in texts(at.success)[0]
    assert "created_user_id" not in at.session_state


async def _someone_else(db: Database) -> None:
    await create_user(
        parse(UserCreate, email="someone@example.com", name="Not Mine"), uow_factory(db)
    )


def test_live_pool_statistics_follow_the_configured_pool(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QULAB_POOL_SIZE", "3")
    monkeypatch.setenv("QULAB_MAX_OVERFLOW", "2")
    at = go_to(open_runtime(), CONNECTIVITY)
    _setup_button(at).click().run()
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Pool size"] == "3"
    assert metrics["In use (checked out)"] == "0"
    assert metrics["Overflow open"] == "0 / 2"
    assert metrics["Available now"] == "5 / 5"
    assert int(metrics["Idle (checked in)"]) >= 1
    [pool_text] = [t for t in texts(at.markdown) if t.startswith("Configured with")]
    assert "pre-ping on for connections idle longer than QULAB_DB_PRE_PING_IDLE_SECONDS=1 s" in (
        pool_text
    )


def test_unreachable_database_gets_a_message_saying_what_to_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "QULAB_DATABASE_URL", f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nowhere"
    )
    at = go_to(open_runtime(), CONNECTIVITY)
    no_exception(at)
    _setup_button(at).click().run()
    no_exception(at)
    errors = texts(at.error)
    assert errors, "expected a friendly error"
    assert all("cannot be reached" in error for error in errors)
    assert all("QULAB_DATABASE_URL" in error for error in errors)
    assert ":red[unreachable]" in "\n".join(texts(at.sidebar.markdown))
