"""5. Eventing: a score and its event in one transaction, and the relay that publishes it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import streamlit as st

from qulab.core import ConfigurationError, ConflictError, Database, EventRow
from qulab.core.outbox import OutboxStatus, PassResult, outbox_status, publish_pending
from qulab.entrypoints.app import runtime
from qulab.entrypoints.app.broker import LabBroker, lab_broker
from qulab.entrypoints.app.checks_view import render_checks
from qulab.entrypoints.app.consumer_view import ConsumedMessage, consumer_view
from qulab.entrypoints.app.context import LabContext, lab_context
from qulab.entrypoints.app.demo_data import demo_users
from qulab.entrypoints.app.errors import PublisherAlreadyRunning
from qulab.entrypoints.app.feedback import attempt, explain, friendly_message, require_schema
from qulab.entrypoints.app.literal import label
from qulab.entrypoints.app.outbox_diagram import outbox_flow_dot
from qulab.entrypoints.app.outbox_lab_view import outbox_lab
from qulab.entrypoints.app.projection_control import bind_lab_queue, lab_queue_depth
from qulab.entrypoints.app.relay_control import (
    RelayController,
    RelayStatus,
    lab_retry_policy,
    relay_controller,
)
from qulab.entrypoints.app.relay_modes_view import relay_modes_step
from qulab.entrypoints.app.step_marks import mark_step
from qulab.entrypoints.app.steps import CHECK_STEP, lab_steps, needs_step
from qulab.entrypoints.app.user_choice import created_users
from qulab.lab.wording import counted
from qulab.platform import (
    OCCUPATION_HR,
    OutboxTables,
    UserRead,
    calculate_and_store_airscore,
    outbox_tables,
    score_event,
)

CALCULATE_LABEL = "Calculate & Store AIRScore (Creates Pending Event)"
START_LABEL = "Start Event Publisher (Background)"
STOP_LABEL = "Stop Event Publisher"
ONE_PASS_LABEL = "Publish pending now (one pass)"  # noqa: S105 (a label)
REFRESH_LABEL = "Refresh Event Status Now"
OUTAGE_LABEL = "Simulate broker outage"

OUTAGE_KEY = "eventing_broker_outage"
FLASH_KEY = "eventing_flash"
LAST_EVENT_KEY = "eventing_last_event_id"

STATUS_REFRESH_SECONDS = 2.0
TABLES_REFRESH_SECONDS = 3.0


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC" if moment else ""


def _intro(broker_kind: str) -> None:
    st.markdown(
        "Other services at InnovateAI must learn when a score is calculated, even when the "
        "network or the message broker is down at that moment. Alex writes each domain event "
        "into the `domain_events` table **in the same transaction** as the business change: "
        "either the score and its event both exist, or neither does. A separate relay, the "
        "event publisher, later claims the pending rows, publishes them to the broker and marks "
        "them published. If the broker is down the events simply wait; nothing is lost."
    )
    st.markdown(
        "Delivery is **at least once**: an event can be sent again after a crash between "
        "publishing and marking, so the event id travels as the message id and consumers drop "
        "duplicates. The services converge (eventual consistency) without a distributed "
        "transaction."
    )
    st.graphviz_chart(outbox_flow_dot(broker_kind), width="stretch")


def _flash(kind: str, text: str) -> None:
    st.session_state[FLASH_KEY] = (kind, text)


def _show_flash() -> None:
    flash = st.session_state.pop(FLASH_KEY, None)
    if flash is None:
        return
    kind, text = flash
    show = {"success": st.success, "warning": st.warning, "error": st.error}.get(kind, st.info)
    show(text)


# -- the score and its event -----------------------------------------------------------------


def _candidates(context: LabContext) -> dict[str, UserRead]:
    db = context.db
    found = attempt(db, lambda: demo_users(db))
    users = {user.id: user for user in (found or {}).values() if user is not None}
    for created in created_users(db):
        users.setdefault(created.id, created)
    return users


def _score_section(context: LabContext) -> None:
    db = context.db
    st.subheader("Generate an AIRScore and a pending domain event")
    users = _candidates(context)
    if not users:
        st.info(
            "No user to score: click “Initialize Database & Create Sample Users” on page 2 "
            "(DB Connectivity & Pooling), or create a user on page 1.",
            icon=":material/person_off:",
        )
        return
    left, right = st.columns([2, 1])
    user_id = left.selectbox(
        "User",
        options=list(users),
        format_func=lambda uid: label(f"{users[uid].name} ({users[uid].email})"),
        key="eventing_user",
    )
    occupation = right.text_input(
        "Occupation code",
        value="SW_ENG",
        key="eventing_occupation",
        help="Known codes: " + ", ".join(OCCUPATION_HR) + " (others score as average).",
    )
    if user_id:
        st.markdown(f"Using **User ID**: `{user_id}`")
    if not st.button(CALCULATE_LABEL, type="primary", key="eventing_calculate"):
        return
    score = attempt(db, lambda: calculate_and_store_airscore(db, str(user_id), occupation))
    if score is None:
        return
    event = attempt(db, lambda: score_event(db, score.id))
    if event is None:
        event_text = "Its event was not found (was it purged already?)."
    else:
        event_text = (
            f"DomainEvent (ID: `{event.id}`, type `{event.event_type}`) recorded as 'pending' "
            "in the same transaction."
        )
        if event.status != "pending":
            event_text += f" The background publisher has already {event.status} it."
    st.success(
        f"AIRScore {score.air_score:.2f} (95 % CI {score.ci_lower:.2f} to {score.ci_upper:.2f}) "
        f"stored with ID `{score.id}`. {event_text}",
        icon=":material/check_circle:",
    )
    if event is not None:
        st.session_state[LAST_EVENT_KEY] = event.id
    mark_step(PAGE, "Calculate and publish")


# -- the publisher -----------------------------------------------------------------------------


def _bind(context: LabContext, broker: LabBroker) -> str | None:
    """On RabbitMQ, bind the lab's queue before anything is published (see bind_lab_queue)."""
    return runtime.run(bind_lab_queue(context.settings, broker))


def _start(context: LabContext, broker: LabBroker, controller: RelayController) -> None:
    try:
        _bind(context, broker)
        started = controller.start()
    except PublisherAlreadyRunning as error:
        _flash(
            "warning",
            f"The event publisher could not start: {error}. Only one relay may run on a SQLite "
            "database at a time: stop the other one (for example `qulab outbox relay` in a "
            "terminal) and click Start again.",
        )
        return
    except Exception as error:
        _flash("error", explain(error, controller.db))
        return
    if started:
        _flash(
            "success",
            "Event publisher started in the background; it polls every "
            f"{controller.db.settings.relay.interval:g} s.",
        )
    else:
        _flash("info", "The event publisher is already running.")


def _stop(controller: RelayController) -> None:
    try:
        stopped = controller.stop()
    except Exception as error:
        _flash("error", explain(error, controller.db))
        return
    status = controller.status()
    if stopped:
        _flash(
            "warning",
            f"Event publisher stopped after its current batch: "
            f"{counted(status.passes, 'pass', 'passes')}, "
            f"{counted(status.published, 'event')} published.",
        )
    else:
        _flash("info", "The event publisher was not running.")


def _set_outage(broker: LabBroker) -> None:
    broker.set_outage(bool(st.session_state.get(OUTAGE_KEY)))


def _one_pass(context: LabContext, broker: LabBroker) -> None:
    db, settings = context.db, context.settings

    async def work() -> PassResult:
        await bind_lab_queue(settings, broker)
        return await publish_pending(db, broker.switch, policy=lab_retry_policy(settings))

    try:
        result = runtime.run(work())
    except ConflictError as error:
        _flash(
            "info",
            f"The background event publisher is running and holds SQLite's single relay lock "
            f"({error}). It publishes pending events by itself; stop it to publish by hand.",
        )
        return
    except Exception as error:
        _flash("error", explain(error, db))
        return
    _flash(*pass_outcome(result, _last_error(context)))


def _last_error(context: LabContext) -> str | None:
    """The error recorded on the most recent failed attempt, whole (None when there is none)."""
    db = context.db
    status = attempt(db, lambda: outbox_status(db, failures=1))
    failures = status.recent_failures if status is not None else []
    return failures[0].last_error if failures else None


def pass_outcome(result: PassResult, last_error: str | None) -> tuple[str, str]:
    """How one pass reads: green only when every claimed event was published."""
    if result.outage:
        return (
            "warning",
            f"The broker is unavailable ({result.outage}): "
            f"{counted(result.retried, 'event stays', 'events stay')} pending with one more "
            "attempt and the error recorded; they are retried after a backoff.",
        )
    if result.claimed == 0:
        return (
            "info",
            "Nothing was due: there are no pending events, or they are waiting for their next "
            "attempt time (backoff after a failure). Try again in a moment.",
        )
    summary = (
        f"One pass: {result.claimed} claimed, {result.published} published, "
        f"{result.retried} to retry, {result.dead} dead-lettered."
    )
    if result.published == result.claimed:
        return "success", summary
    failed = result.claimed - result.published
    reason = f" The broker refused {counted(failed, 'event')}: {last_error}" if last_error else ""
    return ("error" if result.published == 0 else "warning"), summary + reason


def _status_panel(controller: RelayController) -> None:
    @st.fragment(run_every=STATUS_REFRESH_SECONDS)
    def panel() -> None:
        status: RelayStatus = controller.status()
        columns = st.columns(4)
        columns[0].metric("Publisher", "running" if status.running else "stopped")
        columns[1].metric("Passes", status.passes)
        columns[2].metric("Published by it", status.published)
        columns[3].metric("Broker", "down" if status.broker_down else "up")
        details = []
        if status.started_at:
            details.append(f"started {_when(status.started_at)}")
        if status.last_pass_at:
            details.append(f"last pass {_when(status.last_pass_at)}")
        if status.stopped_at and not status.running:
            details.append(f"stopped {_when(status.stopped_at)}")
        if status.retried:
            details.append(f"{counted(status.retried, 'failed attempt')} recorded")
        st.caption(" · ".join(details) or "Not started in this server process yet.")
        if status.last_error:
            st.markdown(f"**Last error** ({_when(status.last_error_at)}):")
            st.code(status.last_error, language=None, wrap_lines=True)

    panel()


def _publisher_section(context: LabContext, broker: LabBroker, controller: RelayController) -> None:
    st.subheader("Event publisher")
    st.markdown(
        f"The relay runs as a task on the app's event loop and publishes to the "
        f"**{broker.kind}** (`{broker.address}`). It keeps running while you use the app, in "
        "every browser session, until you stop it. Stopping lets the current batch finish."
    )
    if broker.kind == "RabbitMQ":
        st.info(
            "RabbitMQ delivers an event only to the queues bound to the exchange for its type, "
            "and the relay publishes with `mandatory` set: with no queue bound, every publish "
            "comes back unroutable and the event stays pending. So before publishing, the lab "
            "declares the queue its own consumer reads and binds it to every event type.",
            icon=":material/alt_route:",
        )
    running = controller.running
    columns = st.columns(3)
    columns[0].button(
        START_LABEL,
        key="eventing_start",
        disabled=running,
        on_click=_start,
        args=(context, broker, controller),
        icon=":material/play_arrow:",
    )
    columns[1].button(
        STOP_LABEL,
        key="eventing_stop",
        disabled=not running,
        on_click=_stop,
        args=(controller,),
        icon=":material/stop:",
    )
    columns[2].button(
        ONE_PASS_LABEL,
        key="eventing_one_pass",
        on_click=_one_pass,
        args=(context, broker),
        icon=":material/send:",
    )
    # The switch is the process-wide broker's: show its state, whoever flipped it.
    st.session_state[OUTAGE_KEY] = broker.outage
    st.toggle(
        OUTAGE_LABEL,
        key=OUTAGE_KEY,
        on_change=_set_outage,
        args=(broker,),
        help="While on, every publish fails as if the broker were down: events stay pending, "
        "their attempts and last error grow. Turn it off and the backlog drains.",
    )
    _show_flash()
    _status_panel(controller)


# -- the tables and the consumer view ------------------------------------------------------


WIDE_ERROR = {"last_error": st.column_config.TextColumn("last_error", width="large")}


def _event_rows(rows: list[EventRow], *, published: bool) -> list[dict[str, Any]]:
    shown = []
    for row in rows:
        item: dict[str, Any] = {"id": row.id, "type": row.event_type, "status": row.status}
        item["created_at"] = _when(row.created_at)
        if published:
            item["published_at"] = _when(row.published_at)
            item["attempts"] = row.attempts
        else:
            item["attempts"] = row.attempts
            item["last_error"] = row.last_error or ""
            item["next_attempt_at"] = _when(row.next_attempt_at)
        item["aggregate"] = f"{row.aggregate_type} {row.aggregate_id}"
        shown.append(item)
    return shown


def _message_rows(messages: list[ConsumedMessage]) -> list[dict[str, Any]]:
    return [
        {
            "id": m.id,
            "type": m.type,
            "payload": json.dumps(m.payload, sort_keys=True),
            "aggregate": f"{m.aggregate_type} {m.aggregate_id}",
            "source": m.source,
            "entry": m.entry_id,
        }
        for m in messages
    ]


def _counts(status: OutboxStatus) -> None:
    columns = st.columns(5)
    columns[0].metric("Pending", status.counts.get("pending", 0))
    columns[1].metric("Published", status.counts.get("published", 0))
    columns[2].metric("Failed (dead letter)", status.counts.get("failed", 0))
    columns[3].metric("Retrying", status.retrying)
    lag = f"{status.lag_seconds:.1f} s" if status.lag_seconds is not None else "none"
    columns[4].metric("Oldest pending", lag)


def _errors_whole(rows: list[EventRow]) -> None:
    """Each distinct last_error in full, below the table whose cells cut it."""
    errors: dict[str, int] = {}
    for row in rows:
        if row.last_error:
            errors[row.last_error] = errors.get(row.last_error, 0) + 1
    for error, count in errors.items():
        st.markdown(f"last_error of {counted(count, 'event')}:")
        st.code(error, language=None, wrap_lines=True)


def _tables(tables: OutboxTables) -> None:
    st.markdown("**Pending Events (Awaiting Publication)**")
    if tables.pending:
        st.dataframe(
            _event_rows(tables.pending, published=False),
            hide_index=True,
            column_config=WIDE_ERROR,
        )
        _errors_whole(tables.pending)
    else:
        st.info("No pending events.")
    st.markdown("**Published Events (Processed)**")
    if tables.published:
        st.dataframe(_event_rows(tables.published, published=True), hide_index=True)
    else:
        st.info("No published events yet.")
    if tables.failed:
        st.markdown("**Failed Events (Dead Letter)**")
        st.dataframe(
            _event_rows(tables.failed, published=False),
            hide_index=True,
            column_config=WIDE_ERROR,
        )
        _errors_whole(tables.failed)
        st.caption("Replay them with `qulab outbox replay --failed`.")


def _consumer(context: LabContext, broker: LabBroker) -> None:
    db = context.db
    st.markdown(f"**Messages as a consumer sees them** ({broker.kind})")
    messages = attempt(db, lambda: consumer_view(broker, db))
    if messages is None:
        if broker.kind == "RabbitMQ":
            _rabbitmq_queue(context, broker)
        elif broker.kind == "stdout":
            st.info(
                "The lab cannot read back from the stdout broker: it keeps nothing. Use the "
                "in-memory broker or Redis Streams (QULAB_BROKER_URL=redis://...) to see them."
            )
        return
    if messages:
        st.dataframe(_message_rows(messages), hide_index=True)
    else:
        st.info("No messages on the broker yet: publish some events.")


def _rabbitmq_queue(context: LabContext, broker: LabBroker) -> None:
    """RabbitMQ keeps what it delivers in the queues bound to the exchange: show the lab's."""
    depth = attempt(context.db, lambda: lab_queue_depth(context.settings, broker))
    if depth is None:
        st.info(
            "The lab's queue is not declared yet: it is bound the first time you publish "
            "(a pass or the background publisher)."
        )
        return
    st.info(
        f"{counted(depth, 'message')} waiting in the lab's queue on {broker.address}. The "
        "lab's consumer reads them when you turn on Lab mode in step 4 (its deliveries appear "
        "there), and the projection applies each event once.",
        icon=":material/inbox:",
    )


SNAPSHOT_READS = 3


def _agree(status: OutboxStatus, tables: OutboxTables) -> bool:
    return all(
        (status.counts.get(kind, 0) == 0) == (not rows)
        for kind, rows in (("pending", tables.pending), ("published", tables.published))
    )


async def outbox_snapshot(db: Database) -> tuple[OutboxStatus, OutboxTables]:
    """The counts and the tables read so that they agree: a relay publishing between the two
    reads would show "Pending 10" beside "No pending events", so such a pair is read again."""
    for _ in range(SNAPSHOT_READS - 1):
        status, tables = await outbox_status(db, failures=0), await outbox_tables(db)
        if _agree(status, tables):
            return status, tables
    return await outbox_status(db, failures=0), await outbox_tables(db)


def _events_section(context: LabContext, broker: LabBroker, controller: RelayController) -> None:
    st.subheader("Current event status")
    db = context.db

    @st.fragment(run_every=TABLES_REFRESH_SECONDS if controller.running else None)
    def live() -> None:
        st.button(REFRESH_LABEL, key="eventing_refresh", icon=":material/refresh:")
        read = attempt(db, lambda: outbox_snapshot(db))
        if read is not None:
            _counts(read[0])
            _tables(read[1])
        _consumer(context, broker)
        if controller.running:
            st.caption(f"Refreshing every {TABLES_REFRESH_SECONDS:g} s while the publisher runs.")

    live()


STEPS = (
    "The idea",
    "Calculate and publish",
    "Event status",
    "Lab mode",
    "Polling vs log-tailing",
    CHECK_STEP,
)
PAGE = "eventing"
EXPLAINS = ("The idea", "Event status")  # steps with no action of their own


def _ready(context: LabContext) -> tuple[LabBroker, RelayController] | None:
    """The broker and the relay, once the configuration and the schema allow them."""
    try:
        broker = lab_broker(context.settings)
    except ConfigurationError as error:
        _intro("broker")
        st.error(friendly_message(error), icon=":material/error:")
        return None
    _intro(broker.kind)
    if not require_schema(context.db):
        return None
    return broker, relay_controller(context.settings, context.db)


def render() -> None:
    context = lab_context()
    st.title("5. Building a reliable eventing system with the Outbox Pattern")
    idea, publish, status, lab, modes, check = lab_steps(STEPS, page=PAGE, explains=EXPLAINS)
    with idea:
        ready = _ready(context)
    if ready is None:
        for tab in (publish, status, lab):
            with tab:
                needs_step(1, STEPS[0])
    else:
        broker, controller = ready
        with publish:
            _score_section(context)
            _publisher_section(context, broker, controller)
        with status:
            _events_section(context, broker, controller)
        with lab:
            outbox_lab(context, controller, st.session_state.get(LAST_EVENT_KEY))
    with modes:
        relay_modes_step(context)
    with check:
        render_checks(PAGE)


if __name__ == "__main__":
    render()
