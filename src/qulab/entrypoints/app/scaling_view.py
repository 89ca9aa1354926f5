"""The Scaling out page's views: the servers with their live lag, replay paused and resumed, a
write read back without and with its token, and the cache guard against a lagging standby.

Everything measured comes from ``qulab.lab.scaling``; this module only renders it.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from qulab.core import Cache
from qulab.entrypoints.app import runtime
from qulab.entrypoints.app.context import LabContext
from qulab.entrypoints.app.feedback import attempt
from qulab.entrypoints.app.step_marks import mark_step
from qulab.lab import scaling
from qulab.lab.scaling import PoisonedCache, ReadYourWrites, ServedRead, ServerState
from qulab.lab.wording import counted

PAUSE_LABEL = "Pause replay"
RESUME_LABEL = "Resume replay"
WRITE_READ_LABEL = "Write, then read back"
POISON_LABEL = "Run the cache race"

NEEDS_TITLE = "This page needs a primary and a read replica"
STATES_REFRESH_SECONDS = 2.0
READ_KEY = "scaling_read_your_writes"
POISON_KEY = "scaling_poisoned_cache"


def needs_replicas(context: LabContext) -> bool:
    """On the embedded default (or PostgreSQL without replicas) say what the page needs and
    how to start it; True when it did."""
    if scaling.replicated(context.db):
        return False
    st.info(
        f"**{NEEDS_TITLE}.** QuLab is on {context.db.description} without read replicas. "
        "Start a private PostgreSQL primary and a streaming standby with:",
        icon=":material/dns:",
    )
    st.code(scaling.START_COMMAND, language="bash")
    st.markdown(
        "It prints two lines, `QULAB_DATABASE_URL=…` and `QULAB_DATABASE_REPLICA_URLS=…`: set "
        "them (in the environment or a `.env` file), restart the lab and come back to this page. "
        "`qulab lab replica down` removes the pair."
    )
    return True


def _state_rows(states: list[ServerState]) -> list[dict[str, Any]]:
    rows = []
    for state in states:
        if state.role == "primary":
            replay, lag = "", ""
        else:
            replay = {True: "paused", False: "running", None: "unknown"}[state.replay_paused]
            lag = "unknown" if state.lag_seconds is None else f"{state.lag_seconds:.2f} s"
        rows.append(
            {
                "server": state.role,
                "address": state.address,
                "WAL position": state.position or "",
                "replay": replay,
                "replay lag": lag,
                "serves reads": "yes" if state.healthy else f"no: {state.problem}",
            }
        )
    return rows


def servers(context: LabContext) -> None:
    db = context.db
    st.markdown(
        "The primary takes every write; each standby receives its write-ahead log (WAL) and "
        "replays it. Reads that tolerate lag go to a standby that is healthy and no more than "
        f"QULAB_REPLICA_MAX_LAG ({db.settings.database.replica_max_lag:g} s) behind; a read "
        "that must see a commit waits for a standby that has replayed its position, or goes to "
        "the primary."
    )
    columns = st.columns(2)
    columns[0].button(
        PAUSE_LABEL, key="scaling_pause", on_click=_control, args=(context, scaling.pause_replay)
    )
    columns[1].button(
        RESUME_LABEL, key="scaling_resume", on_click=_control, args=(context, scaling.resume_replay)
    )

    @st.fragment(run_every=STATES_REFRESH_SECONDS)
    def live() -> None:
        states = attempt(db, lambda: scaling.replica_states(db))
        if states is None:
            return
        st.dataframe(_state_rows(states), hide_index=True)
        st.caption(
            f"Read now and every {STATES_REFRESH_SECONDS:g} s. With replay paused the standby "
            "keeps receiving WAL but applies none: after the next write its position stays "
            "behind the primary's and its lag grows."
        )

    live()


def _control(context: LabContext, action: Any) -> None:
    attempt(context.db, lambda: action(context.db))


def _read_row(label: str, read: ServedRead) -> dict[str, Any]:
    return {
        "read": label,
        "served by": read.server,
        "name seen": read.name,
        "stale": "yes" if read.stale else "no",
    }


def read_your_writes(context: LabContext) -> None:
    db = context.db
    st.markdown(
        "A request renames the lab's own user; a second request, which did not write, reads it "
        "back. Without a token it reads whatever the standby has replayed; given the write's "
        "consistency token (a WAL position) it is served only by a server that has replayed "
        "it. Replay is held on the standby during the run (and resumed after, unless you paused "
        "it yourself), so the standby is behind exactly as a busy one would be."
    )
    if st.button(WRITE_READ_LABEL, key="scaling_write_read", type="primary"):
        found = attempt(db, lambda: scaling.read_your_writes(db))
        if found is not None:
            st.session_state[READ_KEY] = found
            mark_step("scaling", "Read your writes")
    result = st.session_state.get(READ_KEY)
    if isinstance(result, ReadYourWrites):
        _show_read_your_writes(result)


def _show_read_your_writes(result: ReadYourWrites) -> None:
    st.markdown(f"Wrote **{result.written}**; its token is `{result.token}`.")
    st.dataframe(
        [
            _read_row("without the token", result.without_token),
            _read_row("with the token", result.with_token),
        ],
        hide_index=True,
    )
    if result.without_token.stale:
        st.warning(
            f"Stale read: the {result.without_token.server} answered "
            f"“{result.without_token.name}”, the value before the write.",
            icon=":material/history:",
        )
    if result.without_token.server == "primary":
        st.info(
            "No standby was serving reads, so the primary answered both: a standby lagging more "
            "than QULAB_REPLICA_MAX_LAG (replay paused for a while, say) is skipped. Resume "
            "replay in step 1 and run it again.",
            icon=":material/info:",
        )
    if not result.with_token.stale:
        st.success(
            f"Read-your-writes: with the token the {result.with_token.server} answered "
            f"“{result.with_token.name}”.",
            icon=":material/check_circle:",
        )


def cache_guard(context: LabContext, cache: Cache) -> None:
    db = context.db
    st.markdown(
        "The race that poisons a cache behind a replica: a write commits and invalidates the "
        "cached user; the next read misses and fills the cache from a standby that has not "
        "replayed the write yet, and the old value is then served to everyone until the TTL. "
        "QuLab's invalidation records the commit's WAL position on the entry's generation, and "
        "a fill is served only by a server that has replayed it. The run caches the lab user, "
        "renames it with replay held, reads the standby directly (what an unguarded fill would "
        f"store) and then lets {scaling.READERS} requests read through the cache; each read is "
        "judged by the version oracle of the strategy comparison."
    )
    if st.button(POISON_LABEL, key="scaling_poison", type="primary"):
        found = attempt(db, lambda: scaling.poisoned_cache(db, cache))
        if found is not None:
            st.session_state[POISON_KEY] = found
            mark_step("scaling", "The cache guard")
    result = st.session_state.get(POISON_KEY)
    if isinstance(result, PoisonedCache):
        _show_poisoned(result)


def _show_poisoned(result: PoisonedCache) -> None:
    columns = st.columns(3)
    columns[0].metric("Standby read directly", result.standby_read.name)
    columns[1].metric("Reads through the cache", result.readers)
    columns[2].metric("Stale reads (guarded)", result.stale_reads)
    outcomes = ", ".join(
        f"{kind}: {result.outcomes.count(kind)}" for kind in sorted(set(result.outcomes))
    )
    st.caption(f"Wrote {result.written} (floor `{result.floor}`). Cache outcomes: {outcomes}.")
    if result.unguarded_stale:
        st.warning(
            f"Without the guard: the first fill would have read “{result.standby_read.name}” "
            "on the standby and cached it for every reader.",
            icon=":material/warning:",
        )
    if result.stale_reads == 0:
        st.success(
            f"With the guard: {counted(result.readers, 'reader')}, 0 stale reads.",
            icon=":material/verified:",
        )
    else:
        st.error(f"{counted(result.stale_reads, 'stale read')} through the cache.")


def current_cache(context: LabContext) -> Cache:
    return runtime.current(context.settings).cache
