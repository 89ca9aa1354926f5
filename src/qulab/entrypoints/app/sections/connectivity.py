"""2. DB Connectivity & Pooling: initialise the database, the sample users, the live pool."""

from __future__ import annotations

import streamlit as st

from qulab.core import Database, PoolStatus, Settings
from qulab.entrypoints.app import runtime
from qulab.entrypoints.app.checks_view import render_checks
from qulab.entrypoints.app.context import LabContext, lab_context
from qulab.entrypoints.app.demo_data import LAB_MARKERS, demo_users
from qulab.entrypoints.app.feedback import (
    SCHEMA_CHECK_TIMEOUT,
    attempt,
    friendly_message,
    schema_message,
)
from qulab.entrypoints.app.literal import literal
from qulab.entrypoints.app.pooling_view import render_pool_exhaustion, render_pooling_experiment
from qulab.entrypoints.app.schema import SchemaState, schema_status
from qulab.entrypoints.app.state import (
    CREATED_USER_ID,
    CREATED_USER_IDS,
    SAMPLE_USER_IDS,
    created_ids,
)
from qulab.entrypoints.app.step_marks import mark_step
from qulab.entrypoints.app.steps import CHECK_STEP, lab_steps
from qulab.lab import DEMO_USERS, SetupResult, run_db_setup_and_create_user
from qulab.lab.reset import reset_database, reset_lab_rows
from qulab.lab.wording import counted

SETUP_LABEL = "Initialize Database & Create Sample Users"
RESET_CONFIRM_KEY = "reset_confirmed"
RESET_FORGET_PROGRESS_KEY = "reset_forget_progress"
RESET_REQUESTED_KEY = "reset_requested"
POOL_REFRESH_SECONDS = 2.0


def _intro() -> None:
    st.markdown(
        "The platform serves many requests at once. A request that waits for the database "
        "should not hold up the others, so Alex uses SQLAlchemy's async engine: while one query "
        "waits on the network, the event loop runs other work. Opening a database connection "
        "costs a handshake (and on PostgreSQL a server process), so the engine keeps a pool of "
        "open connections and lends them out: `pool_size` stay open, `max_overflow` more may be "
        "opened under a burst, and a request that finds none free waits up to `pool_timeout`."
    )
    st.markdown("Throughput is the number of requests served per unit of time:")
    st.latex(r"\Theta = \frac{\text{number of requests}}{\text{total time}}")
    st.markdown(
        "Async I/O raises $\\Theta$ by not idling while the database works; pooling raises it "
        "by not paying for a new connection on every request. Each unit of work here is one "
        "transaction with the ACID guarantees:\n"
        "- **Atomicity**: all of its writes happen, or none do.\n"
        "- **Consistency**: it moves the database from one valid state to another.\n"
        "- **Isolation**: concurrent transactions behave as if run one after another.\n"
        "- **Durability**: once committed, the change survives a crash."
    )


def _report_setup(result: SetupResult, *, reset: bool) -> None:
    action = "Reset and migrated" if reset else "Initialised"
    st.success(
        f"{action} {result.database}: schema at revision {result.revision}.",
        icon=":material/database:",
    )
    for user in (result.alex, result.jane):
        state = "created" if user.email in result.created else "already present"
        st.success(f"{literal(user.name)} {state} (ID: {user.id})", icon=":material/person:")


def _request_reset() -> None:
    st.session_state[RESET_REQUESTED_KEY] = True
    st.session_state[RESET_CONFIRM_KEY] = False


def _reset_controls(db: Database) -> None:
    with st.expander("Reset the SQLite database", icon=":material/restart_alt:"):
        st.markdown(
            "Drops every table (Alembic downgrade to `base`), migrates again and recreates the "
            "two sample users. **Every row is deleted**: users you created, scores and events. "
            "Your knowledge-check answers are kept unless you tick the box below."
        )
        st.checkbox("Also forget my knowledge-check answers", key=RESET_FORGET_PROGRESS_KEY)
        confirmed = st.checkbox(
            f"I understand that every row in {db.description} will be deleted",
            key=RESET_CONFIRM_KEY,
        )
        st.button(
            "Reset database", disabled=not confirmed, on_click=_request_reset, key="reset_button"
        )
    if st.session_state.pop(RESET_REQUESTED_KEY, False):
        keep = not st.session_state.get(RESET_FORGET_PROGRESS_KEY, False)
        result = attempt(db, lambda: reset_database(db, keep_progress=keep))
        if result is not None:
            st.session_state.pop(CREATED_USER_ID, None)
            st.session_state.pop(CREATED_USER_IDS, None)
            _report_setup(result, reset=True)


def _reset_lab_rows_controls(db: Database) -> None:
    with st.expander("Reset the lab's rows", icon=":material/restart_alt:"):
        st.markdown(
            f"{db.description} may be shared, so nothing is dropped. This removes only what the "
            "lab wrote: Alex Smith and Jane Doe, the users you created on page 1 in this "
            "session, and the demo users pages 2 and 3 seeded (with their scores and "
            "assessments, through the unit of work so caches forget them), then creates Alex "
            "and Jane again. Every other row stays. Your knowledge-check answers are kept "
            "unless you tick the box below."
        )
        st.checkbox("Also forget my knowledge-check answers", key=RESET_FORGET_PROGRESS_KEY)
        confirmed = st.checkbox(
            "I understand that the lab's own rows (listed above) will be deleted",
            key=RESET_CONFIRM_KEY,
        )
        st.button(
            "Reset the lab's rows",
            disabled=not confirmed,
            on_click=_request_reset,
            key="reset_button",
        )
    if st.session_state.pop(RESET_REQUESTED_KEY, False):
        keep = not st.session_state.get(RESET_FORGET_PROGRESS_KEY, False)
        created = created_ids(st.session_state)
        outcome = attempt(
            db,
            lambda: reset_lab_rows(db, created=created, markers=LAB_MARKERS, keep_progress=keep),
        )
        if outcome is not None:
            st.session_state.pop(CREATED_USER_ID, None)
            st.session_state.pop(CREATED_USER_IDS, None)
            st.success(
                f"Removed the lab's {counted(outcome.removed, 'user')} with their scores and "
                "assessments; every other row is untouched.",
                icon=":material/delete_sweep:",
            )
            _report_setup(outcome.setup, reset=False)


def _setup_section(context: LabContext) -> None:
    db = context.db
    st.subheader("Database initialisation and sample users")
    st.markdown(
        f"Database in use: **{db.description}**. The button migrates the schema to the latest "
        "Alembic revision (creating the tables on an empty database) and makes sure the sample "
        "users Alex Smith and Jane Doe exist. Clicking it again changes nothing."
    )
    if st.button(SETUP_LABEL, type="primary", icon=":material/play_arrow:"):
        result = attempt(db, lambda: run_db_setup_and_create_user(db))
        if result is not None:
            _report_setup(result, reset=False)
            mark_step(PAGE, STEPS[0])
    if context.settings.database.is_sqlite:
        _reset_controls(db)
    else:
        _reset_lab_rows_controls(db)
    _sample_users(db)


def _sample_users(db: Database) -> None:
    try:
        status = runtime.run(schema_status(db), timeout=SCHEMA_CHECK_TIMEOUT)
    except Exception as error:
        st.error(friendly_message(error, where=db.description), icon=":material/error:")
        return
    if status.state is SchemaState.MISSING:
        st.warning(
            f"The database is not initialised yet: click “{SETUP_LABEL}” above.",
            icon=":material/warning:",
        )
        return
    if status.state is SchemaState.OUTDATED:
        st.warning(schema_message(status), icon=":material/warning:")
        return
    users = attempt(db, lambda: demo_users(db))
    if users is None:
        return
    if any(user is None for user in users.values()):
        st.info(f"The sample users are missing: click “{SETUP_LABEL}” above.")
        return
    st.success("The database is initialised and ready.", icon=":material/check_circle:")
    ids: dict[str, str] = {}
    for email, name, *_ in DEMO_USERS:
        user = users[email]
        assert user is not None
        ids[name] = user.id
        st.markdown(f"**{name} user ID:** `{user.id}`")
    st.session_state[SAMPLE_USER_IDS] = ids


def _pool_metrics(status: PoolStatus) -> None:
    if status.size is None:
        st.caption(
            f"This engine uses {status.kind}, which keeps no counters "
            "(an in-memory SQLite database shares one connection)."
        )
        return
    capacity = status.size + (status.max_overflow or 0)
    in_use = status.checked_out or 0
    columns = st.columns(5)
    columns[0].metric("Pool size", status.size)
    columns[1].metric("Idle (checked in)", status.checked_in)
    columns[2].metric("In use (checked out)", in_use)
    columns[3].metric("Overflow open", f"{status.overflow} / {status.max_overflow}")
    columns[4].metric("Available now", f"{capacity - in_use} / {capacity}")
    st.caption(
        f"{status.kind}; a request waits up to {status.timeout:g} s for a free connection "
        "before the pool reports it is exhausted."
    )


def _pre_ping_text(settings: Settings) -> str:
    if not settings.database.pool_pre_ping:
        return "pre-ping off"
    return (
        "pre-ping on for connections idle longer than "
        f"QULAB_DB_PRE_PING_IDLE_SECONDS={settings.database.pre_ping_idle_seconds:g} s"
    )


def _pool_section(context: LabContext) -> None:
    db, settings = context.db, context.settings
    st.subheader("Connection pool (live)")
    st.markdown(
        f"Configured with QULAB_POOL_SIZE={settings.database.pool_size}, "
        f"QULAB_MAX_OVERFLOW={settings.database.max_overflow}, "
        f"QULAB_POOL_TIMEOUT={settings.database.pool_timeout:g}, "
        f"QULAB_POOL_RECYCLE={settings.database.pool_recycle}, "
        f"{_pre_ping_text(settings)}. "
        "The engine opens connections lazily, so a fresh server shows none idle until the "
        "first query."
    )
    live = st.toggle(f"Refresh every {POOL_REFRESH_SECONDS:g} s", value=True, key="pool_live")

    @st.fragment(run_every=POOL_REFRESH_SECONDS if live else None)
    def pool_panel() -> None:
        _pool_metrics(db.pool_status())

    pool_panel()
    st.caption(
        "This is the app's own engine. The pooling experiment (step 3) runs on engines of its "
        "own with the same settings and draws their connections checked out over its run."
    )


STEPS = (
    "Set up the database",
    "The pool, live",
    "Pooling experiment",
    "Pool exhaustion",
    CHECK_STEP,
)
PAGE = "connectivity"
EXPLAINS = ("The pool, live",)  # steps with no action of their own


def render() -> None:
    context = lab_context()
    st.title("2. Asynchronous database connectivity and connection pooling")
    setup, pool, experiment, exhaustion, check = lab_steps(STEPS, page=PAGE, explains=EXPLAINS)
    with setup:
        _intro()
        _setup_section(context)
    with pool:
        _pool_section(context)
    with experiment:
        render_pooling_experiment(context)
    with exhaustion:
        render_pool_exhaustion(context)
    with check:
        render_checks(PAGE)


if __name__ == "__main__":
    render()
