"""Choosing the user a page works on: Alex, Jane, the user created on page 1, or any id."""

from __future__ import annotations

import streamlit as st

from qulab.core import Database
from qulab.entrypoints.app.demo_data import demo_users
from qulab.entrypoints.app.feedback import attempt
from qulab.entrypoints.app.literal import label
from qulab.entrypoints.app.navigation import CONNECTIVITY
from qulab.entrypoints.app.state import created_ids
from qulab.lab import DEMO_USERS
from qulab.platform import UserRead, find_user

OTHER = "Another user (enter an ID)"


def user_options(db: Database) -> dict[str, str] | None:
    """Label -> user id of the users to choose from, read from the database (None on failure)."""
    found = attempt(db, lambda: demo_users(db))
    if found is None:
        return None
    options: dict[str, str] = {}
    for email, name, *_ in DEMO_USERS:
        user = found.get(email)
        if user is not None:
            options[f"{name} (sample user)"] = user.id
    for created in created_users(db):
        options[label(f"{created.name} (created on page 1)")] = created.id
    return options


def created_users(db: Database) -> list[UserRead]:
    """The users the learner created on page 1 that are still in the database, latest first."""
    ids = created_ids(st.session_state)
    if not ids:
        return []
    found = attempt(db, lambda: _existing(db, ids))
    return found or []


async def _existing(db: Database, ids: list[str]) -> list[UserRead]:
    users = [await find_user(db, user_id) for user_id in ids]
    return [user for user in users if user is not None]


def choose_user(db: Database, *, key: str) -> str | None:
    """A select box of users (plus a free id field); the chosen id, or None if there is none."""
    options = user_options(db)
    if options is None:
        return None
    if not options:
        st.info(
            "The sample users Alex Smith and Jane Doe do not exist yet: create them on page 2.",
            icon=":material/person_off:",
        )
        st.page_link(
            str(CONNECTIVITY.path), label=f"Go to {CONNECTIVITY.title}", icon=CONNECTIVITY.icon
        )
    labels = [*options, OTHER]
    choice = st.selectbox("User", labels, key=key)
    if choice == OTHER:
        typed = st.text_input("User ID", placeholder="a user's UUID", key=f"{key}_id")
        return typed.strip() or None
    user_id = options[choice]
    st.caption(f"User ID: `{user_id}`")
    return user_id
