"""The sidebar under the navigation: what the lab is connected to."""

from __future__ import annotations

import streamlit as st

from qulab.core import Database, Settings, redact_url
from qulab.entrypoints.app import runtime
from qulab.entrypoints.app.cache_resource import status_line as cache_status_line
from qulab.entrypoints.app.checks_view import progress_lines
from qulab.entrypoints.app.feedback import SCHEMA_CHECK_TIMEOUT
from qulab.entrypoints.app.relay_control import broker_state_line
from qulab.entrypoints.app.schema import SchemaState, schema_status


def cache_line(settings: Settings) -> str:
    if settings.cache.redis_url:
        return f"Redis `{redact_url(settings.cache.redis_url)}`"
    return "in-process (set QULAB_REDIS_URL for Redis)"


def broker_line(settings: Settings) -> str:
    if settings.broker.url and not settings.broker.url.startswith("memory://"):
        return f"`{redact_url(settings.broker.url)}`"
    return "in-memory (set QULAB_BROKER_URL for Redis Streams or RabbitMQ)"


def schema_line(db: Database) -> str:
    try:
        status = runtime.run(schema_status(db), timeout=SCHEMA_CHECK_TIMEOUT)
    except Exception:
        return ":red[unreachable]"
    if status.state is SchemaState.READY:
        return f":green[revision {status.current}]"
    if status.state is SchemaState.MISSING:
        return ":orange[not initialised]"
    return f":orange[revision {status.current}, needs {status.head}]"


def render_sidebar(settings: Settings, db: Database) -> None:
    with st.sidebar:
        st.caption("QuLab · Data Architecture & Persistence")
        st.markdown(f"**Database:** `{db.description}`")
        st.markdown(f"**Schema:** {schema_line(db)}")
        st.markdown(f"**Cache (configured):** {cache_line(settings)}")
        st.markdown(f"**Cache (live):** {cache_status_line(settings, db)}")
        st.markdown(f"**Broker (configured):** {broker_line(settings)}")
        st.markdown(f"**Broker (live):** {broker_state_line(settings, db)}")
        progress = progress_lines(db)
        if progress:
            headlines, pages = progress[:2], progress[2:]
            for line in headlines:
                st.markdown(line)
            st.markdown("\n".join(pages))
