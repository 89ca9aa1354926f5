"""Remember: what is in Redis. The keys QuLab created, each with its structure and why.

On Redis the view is live (SCAN on QuLab's prefixes only, bounded; TYPE, TTL, MEMORY USAGE,
OBJECT ENCODING; XINFO GROUPS for the outbox streams; PUBSUB NUMSUB for the invalidation
channel). On the embedded default it shows the in-process cache and memory broker and the Redis
structure each thing would be.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from qulab.core import MemoryBackend, Settings
from qulab.entrypoints.app import runtime
from qulab.entrypoints.app.broker import lab_broker
from qulab.entrypoints.app.context import lab_context
from qulab.entrypoints.app.feedback import explain
from qulab.lab.redis_structures import DEFAULT_LIMIT, StoreView, memory_view, redis_view

REFRESH_LABEL = "Refresh the Redis view"
SUBHEADER = "Remember: what is in Redis"


def _view(settings: Settings) -> StoreView:
    if settings.cache.redis_url:
        return runtime.run(
            redis_view(
                settings.cache.redis_url, settings.cache.prefix, settings.broker.stream_prefix
            )
        )
    app_runtime = runtime.current(settings)
    backend = app_runtime.cache.backend
    if not isinstance(backend, MemoryBackend):
        raise TypeError(f"an in-process view needs the memory backend, not {backend.kind}")
    return memory_view(
        backend,
        lab_broker(settings).inner,
        settings.cache.prefix,
        settings.broker.stream_prefix,
    )


def keys_frame(view: StoreView) -> pd.DataFrame:
    rows = [
        {
            "key": thing.key,
            "role": thing.role,
            "TYPE": thing.redis_type,
            "TTL (s)": "no expiry" if thing.ttl_s is None else f"{thing.ttl_s:.1f}",
            "MEMORY USAGE (bytes)": thing.memory_bytes,
            "OBJECT ENCODING": thing.encoding,
            "length": thing.length,
        }
        for thing in view.things
        if thing.role != "channel"
    ]
    return pd.DataFrame(rows)


def why_lines(view: StoreView) -> list[str]:
    """Why each structure, once per role and type, whole (a table cell would cut it)."""
    said: dict[tuple[str, str], str] = {}
    for thing in view.things:
        said.setdefault((thing.role, thing.redis_type), thing.why)
    return [f"- **{role}** ({kind}): {why}" for (role, kind), why in said.items() if why]


def groups_frame(view: StoreView) -> pd.DataFrame:
    rows = [
        {
            "stream": thing.key,
            "group": group.name,
            "consumers": group.consumers,
            "pending": group.pending,
            "last delivered": group.last_delivered,
        }
        for thing in view.of_role("stream")
        for group in thing.groups
    ]
    return pd.DataFrame(rows)


def channels_frame(view: StoreView) -> pd.DataFrame:
    rows = [
        {
            "channel": thing.key,
            "subscribers (PUBSUB NUMSUB)": thing.subscribers,
        }
        for thing in view.of_role("channel")
    ]
    return pd.DataFrame(rows)


def summary(view: StoreView) -> str:
    """One line: how many of each role, with its Redis type (channels not counted as keys)."""
    counts: dict[tuple[str, str], int] = {}
    for thing in view.things:
        if thing.role != "channel":
            counts[(thing.role, thing.redis_type)] = (
                counts.get((thing.role, thing.redis_type), 0) + 1
            )
    if not counts:
        return "no keys under QuLab's prefixes"
    return ", ".join(f"{n} {role} ({kind})" for (role, kind), n in sorted(counts.items()))


def render_redis_view() -> None:
    """The live view, on its own subheader; safe to call on any page."""
    context = lab_context()
    settings = context.settings
    st.subheader(SUBHEADER)
    st.button(REFRESH_LABEL, icon=":material/refresh:", key="redis_view_refresh")
    try:
        view = _view(settings)
    except Exception as error:
        st.error(explain(error, context.db), icon=":material/error:")
        return
    if view.backend == "redis":
        st.markdown(
            f"Live from Redis at `{view.address}`: only QuLab's prefixes, found with `SCAN … "
            f"MATCH` (first {DEFAULT_LIMIT} per prefix, never `KEYS`): "
            + ", ".join(f"`{pattern}`" for pattern in view.patterns)
            + "."
        )
    else:
        st.markdown(
            "No Redis is configured (set QULAB_REDIS_URL): this is what the in-process cache "
            "and the in-memory broker hold, with the Redis structure each would be on Redis."
        )
    if view.truncated:
        st.caption(f"More keys exist than shown: the view stops at {DEFAULT_LIMIT} per prefix.")
    keys = keys_frame(view)
    st.markdown(f"**Found:** {summary(view)}")
    if keys.empty:
        st.info(
            "Nothing stored yet: fetch a user in step 2, or publish an event on page 5.",
            icon=":material/inbox:",
        )
    else:
        st.dataframe(keys, hide_index=True, width="stretch")
    whys = why_lines(view)
    if whys:
        st.markdown("**Why each structure**\n" + "\n".join(whys))
    groups = groups_frame(view)
    if not groups.empty:
        st.markdown("Consumer groups of the outbox streams (`XINFO GROUPS`):")
        st.dataframe(groups, hide_index=True, width="stretch")
    st.markdown(
        "The two-tier cache's invalidation channel is pub/sub: not a key, so `SCAN` cannot see "
        "it; `PUBSUB NUMSUB` says who listens."
    )
    st.dataframe(channels_frame(view), hide_index=True, width="stretch")
