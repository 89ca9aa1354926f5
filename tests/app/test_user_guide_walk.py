"""The user guide's first steps in one session, in order, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

from qulab.app.navigation import CONNECTIVITY, DATA_MODELS
from qulab.app.sections.connectivity import SETUP_LABEL
from qulab.lab import DEMO_USERS
from tests.app.helpers import (
    go_to,
    no_exception,
    open_lab,
    restart_server,
    texts,
    user_count,
    user_emails,
)


def _app_loops() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "qulab-app-loop" and t.is_alive()]


def test_initialise_then_create_then_duplicate_then_invalid_inputs(lab_url: str) -> None:
    at = open_lab()
    no_exception(at)

    # Page 2: initialise; Alex's and Jane's ids are shown and are the rows in the database.
    go_to(at, CONNECTIVITY)
    next(b for b in at.button if b.label == SETUP_LABEL).click().run()
    no_exception(at)
    rows = user_emails(lab_url)
    shown = "\n".join(texts(at.markdown))
    for email, name, *_ in DEMO_USERS:
        assert f"**{name} user ID:** `{rows[email]}`" in shown

    # Page 1: create a user; the new id is shown and remembered.
    go_to(at, DATA_MODELS)
    at.text_input(key="new_user_email").input("ada@example.com")
    at.text_input(key="new_user_name").input("Ada Lovelace")
    at.text_input(key="new_user_years").input("12")
    at.button(key="create_user_submit").click().run()
    no_exception(at)
    new_id = user_emails(lab_url)["ada@example.com"]
    assert texts(at.success) == [f"User 'Ada Lovelace' created with ID: {new_id}"]
    assert at.session_state["created_user_id"] == new_id

    # The same email again: a clear error, the row count unchanged.
    at.button(key="create_user_submit").click().run()
    assert texts(at.error) == [
        "A user with the email ada@example.com already exists. Emails are unique: use another "
        "one. Nothing was written."
    ]
    assert user_count(lab_url) == 3

    # Invalid inputs: each one named, nothing written.
    for field, value, expected in (
        ("new_user_email", "ada-at-example.com", "Invalid email:"),
        ("new_user_years", "lots", "Invalid years_experience:"),
    ):
        at.text_input(key="new_user_email").input("other@example.com")
        at.text_input(key="new_user_years").input("")
        at.text_input(key=field).input(value)
        at.button(key="create_user_submit").click().run()
        no_exception(at)
        [error] = texts(at.error)
        assert error.startswith(expected), error
        assert user_count(lab_url) == 3
    assert at.session_state["created_user_id"] == new_id

    # A restart releases the loop thread and the engine; state comes back from the database.
    assert len(_app_loops()) == 1
    restart_server()
    assert _app_loops() == []
    again = go_to(open_lab(), DATA_MODELS)
    no_exception(again)
    assert again.metric[0].value == "3"
    assert len(_app_loops()) == 1
