"""The user guide in one session, in order, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import threading

from sqlalchemy import select

from qulab.core.db import Database
from qulab.core.models import DomainEvent
from qulab.entrypoints.app.navigation import (
    CACHING,
    CONNECTIVITY,
    DATA_MODELS,
    EVENTING,
    REPOSITORY,
)
from qulab.entrypoints.app.sections.connectivity import SETUP_LABEL
from qulab.lab import DEMO_USERS
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

EVENT_ID = re.compile(r"DomainEvent \(ID: `([0-9a-f-]{36})`")


def event_status(url: str, event_id: str) -> str | None:
    async def _read(db: Database) -> str | None:
        async with db.session() as session:
            status: str | None = await session.scalar(
                select(DomainEvent.status).where(DomainEvent.id == event_id)
            )
            return status

    result = query(url, _read)
    return None if result is None else str(result)


def _app_loops() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "qulab-app-loop" and t.is_alive()]


def test_initialise_then_create_then_duplicate_then_invalid_inputs(lab_url: str) -> None:
    at = open_runtime()
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
    again = go_to(open_runtime(), DATA_MODELS)
    no_exception(again)
    assert again.metric[0].value == "3"
    assert len(_app_loops()) == 1


def test_the_whole_user_guide_in_one_session(lab_url: str) -> None:
    """initialise -> create a user -> duplicate email -> add scores -> per-row vs eager ->
    cache miss, hit, invalidate, miss -> score + pending event -> relay -> published."""
    at = go_to(open_runtime(), CONNECTIVITY)
    next(b for b in at.button if b.label == SETUP_LABEL).click().run()
    no_exception(at)

    go_to(at, DATA_MODELS)
    at.text_input(key="new_user_email").input("grace@example.com")
    at.text_input(key="new_user_name").input("Grace Hopper")
    at.button(key="create_user_submit").click().run()
    grace = user_emails(lab_url)["grace@example.com"]
    assert texts(at.success) == [f"User 'Grace Hopper' created with ID: {grace}"]
    at.button(key="create_user_submit").click().run()
    assert texts(at.error)[0].startswith("A user with the email grace@example.com already exists")
    assert user_count(lab_url) == 3

    # Page 3: scores for the user made on page 1, then per-row against eager, counted.
    go_to(at, REPOSITORY)
    at.selectbox(key="nplusone_user").select("Grace Hopper (created on page 1)").run()
    at.button(key="add_scores").click().run()
    assert texts(at.success) == [f"3 sample scores added for Grace Hopper (ID: {grace})"]
    at.button(key="fetch_compare").click().run()
    no_exception(at)
    metrics = {m.label: str(m.value) for m in at.metric}
    assert metrics["SQL statements (per-row)"] == "2"  # 1 user + 1 score query for 1 user
    assert metrics["SQL statements (eager)"] == "2"
    at.number_input(key="nplusone_n").set_value(8)
    at.button(key="compare_all").click().run()
    no_exception(at)
    metrics = {m.label: str(m.value) for m in at.metric}
    assert metrics["Per-row statements (N = 8)"] == "9"
    assert metrics["Eager statements (N = 8)"] == "2"

    # Page 4: bursts starting with a MISS, a HIT, (invalidate) a MISS, as the cache reports.
    go_to(at, CACHING)
    outcomes = []
    for key in ("fetch_user_cached", "fetch_user_cached", "invalidate_cache", "fetch_user_cached"):
        at.button(key=key).click().run()
        no_exception(at)
        if key.startswith("fetch"):
            shown = texts(at.success) + texts(at.info) + texts(at.warning)
            [line] = [t for t in shown if t.startswith(("Cache HIT", "Cache MISS"))]
            outcomes.append(line.split(" ")[1])
    assert outcomes == ["MISS", "HIT", "MISS"]

    # Page 5: a score and its pending event; one relay pass publishes it.
    go_to(at, EVENTING)
    at.button(key="eventing_calculate").click().run()
    no_exception(at)
    [success] = [t for t in texts(at.success) if t.startswith("AIRScore ")]
    match = EVENT_ID.search(success)
    assert match and "recorded as 'pending'" in success
    assert event_status(lab_url, match.group(1)) == "pending"
    at.button(key="eventing_one_pass").click().run()
    no_exception(at)
    assert event_status(lab_url, match.group(1)) == "published"
    table = next(f.value for f in at.dataframe if "published_at" in f.value.columns)
    published = {row["id"]: row for row in table.to_dict("records")}
    assert published[match.group(1)]["status"] == "published"
