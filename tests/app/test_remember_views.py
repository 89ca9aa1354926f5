"""Remember on the pages: the relationship types on page 1 (DDL for the configured database)
and what is in Redis on page 4 (live on Redis, the in-process stores on the default)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from qulab.entrypoints.app.navigation import CACHING, CONNECTIVITY, DATA_MODELS
from qulab.entrypoints.app.redis_view import SUBHEADER as REDIS_SUBHEADER
from qulab.entrypoints.app.relationships_view import SUBHEADER as RELATIONSHIPS_SUBHEADER
from qulab.entrypoints.app.sections.connectivity import SETUP_LABEL
from qulab.entrypoints.app.sections.data_models import STEPS
from qulab.entrypoints.app.steps import step_labels
from qulab.lab import DEMO_USERS
from tests.app.helpers import go_to, no_exception, open_runtime, user_emails
from tests.cache_support import delete_prefix, new_prefix

ALEX_EMAIL = DEMO_USERS[0][0]


def _initialised() -> AppTest:
    at = go_to(open_runtime(), CONNECTIVITY)
    next(b for b in at.button if b.label == SETUP_LABEL).click().run()
    no_exception(at)
    return at


def _keys(at: AppTest) -> pd.DataFrame:
    return next(df.value for df in at.dataframe if "OBJECT ENCODING" in df.value.columns)


def _channels(at: AppTest) -> pd.DataFrame:
    return next(
        df.value for df in at.dataframe if "subscribers (PUBSUB NUMSUB)" in df.value.columns
    )


def test_page_1_shows_the_four_relationship_types_for_the_configured_database(
    lab_url: str,
) -> None:
    at = go_to(open_runtime(), DATA_MODELS)
    no_exception(at)
    assert RELATIONSHIPS_SUBHEADER in [sub.value for sub in at.subheader]
    assert [tab.label for tab in at.tabs if tab.label not in step_labels(STEPS)][-4:] == [
        "one-to-many",
        "many-to-one",
        "one-to-one",
        "many-to-many",
    ]
    code = "\n".join(str(block.value) for block in at.code)
    assert 'scores: Mapped[list[AIRScore]] = relationship(back_populates="user"' in code
    assert "PRIMARY KEY (user_id, skill_id)" in code
    timestamp = "TIMESTAMP WITH TIME ZONE" if lab_url.startswith("postgresql") else "DATETIME"
    assert f"created_at {timestamp} NOT NULL" in code


def test_page_4_on_the_default_shows_the_in_process_entries_as_redis_structures(
    sqlite_url: str,
) -> None:
    at = go_to(_initialised(), CACHING)
    at.button(key="fetch_user_cached").click().run()
    no_exception(at)
    assert REDIS_SUBHEADER in [sub.value for sub in at.subheader]
    alex = user_emails(sqlite_url)[ALEX_EMAIL]
    keys = _keys(at).set_index("key")
    assert keys.loc[f"qulab:user:{alex}", "TYPE"] == "string"
    assert keys.loc[f"qulab:user:{alex}", "role"] == "entry"
    assert "qulab:two-tier:invalidations" in set(_channels(at)["channel"])


@pytest.fixture
def redis_prefix(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> Iterator[str]:
    prefix = new_prefix()
    monkeypatch.setenv("QULAB_REDIS_URL", redis_url)
    monkeypatch.setenv("QULAB_CACHE_PREFIX", prefix)
    try:
        yield prefix
    finally:
        st.cache_resource.clear()
        asyncio.run(delete_prefix(redis_url, prefix))


def test_page_4_on_redis_lists_the_keys_a_cached_read_made_and_only_qulabs(
    sqlite_url: str, redis_prefix: str
) -> None:
    at = go_to(_initialised(), CACHING)
    at.button(key="fetch_user_cached").click().run()
    no_exception(at)
    alex = user_emails(sqlite_url)[ALEX_EMAIL]
    keys = _keys(at).set_index("key")
    entry = keys.loc[f"{redis_prefix}user:{alex}"]
    assert (entry["TYPE"], entry["role"]) == ("string", "entry")
    assert entry["OBJECT ENCODING"] in {"embstr", "raw"}
    assert int(entry["MEMORY USAGE (bytes)"]) > 0
    assert all(key.startswith(redis_prefix) or ".outbox.event." in f".{key}" for key in keys.index)
    assert f"{redis_prefix}two-tier:invalidations" in set(_channels(at)["channel"])
