"""Page 5's lab mode: the publisher delay (an event seen pending, then published), the lab's
consumer keeping the projection until it matches air_scores, and "Break it"."""

from __future__ import annotations

import asyncio
import re

import pytest
from redis.asyncio import Redis
from streamlit.testing.v1 import AppTest

from qulab.core.db import Database
from qulab.core.outbox import memory_broker
from qulab.entrypoints.app.break_it_view import BREAK_IT_LABEL
from qulab.entrypoints.app.demo_data import NPLUSONE_MARKER
from qulab.entrypoints.app.event_watch_view import DELAY_KEY
from qulab.entrypoints.app.navigation import CONNECTIVITY, EVENTING, REPOSITORY
from qulab.entrypoints.app.outbox_lab_view import LAB_MODE_KEY
from qulab.entrypoints.app.sections.connectivity import SETUP_LABEL
from qulab.platform import seeded_users
from qulab.platform.projection import projection_differences, projection_mismatches
from tests import services
from tests.app.helpers import go_to, no_exception, open_runtime, query, shown, texts
from tests.waiting import wait_until

EVENT_ID = re.compile(r"DomainEvent \(ID: `([0-9a-f-]{36})`")
WAIT_SECONDS = 30.0
ROUND_TIMEOUT = 120.0


@pytest.fixture(autouse=True)
def empty_memory_broker() -> None:
    """The embedded broker is process-wide: no message of an earlier test's database."""
    memory_broker().clear()


def _lab_mode() -> AppTest:
    at = go_to(open_runtime(), CONNECTIVITY)
    next(b for b in at.button if b.label == SETUP_LABEL).click().run()
    no_exception(at)
    at = go_to(at, EVENTING)
    at.toggle(key=LAB_MODE_KEY).set_value(True).run()
    no_exception(at)
    return at


def _calculate(at: AppTest) -> str:
    at.button(key="eventing_calculate").click().run()
    no_exception(at)
    [success] = [text for text in texts(at.success) if text.startswith("AIRScore ")]
    match = EVENT_ID.search(success)
    assert match, success
    return match.group(1)


def _watch_line(at: AppTest, event_id: str) -> str:
    lines = [line for line in shown(at.markdown) if line.startswith(f"Event {event_id}")]
    assert lines, shown(at.markdown)
    return lines[0]


def _status_of(url: str, event_id: str) -> tuple[str, float]:
    """The event's status and, once published, seconds from written to published."""
    from qulab.platform.views import outbox_tables

    async def _read(db: Database) -> tuple[str, float]:
        tables = await outbox_tables(db)
        for row in (*tables.pending, *tables.published):
            if row.id == event_id:
                took = 0.0
                if row.published_at is not None:
                    took = (row.published_at - row.created_at).total_seconds()
                return row.status, took
        return "missing", 0.0

    found: tuple[str, float] = query(url, _read)
    return found


def _verdicts(at: AppTest) -> list[str]:
    return [t for t in texts(at.success) + texts(at.warning) if t.startswith("matches air_scores")]


def _metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: str(metric.value) for metric in at.metric}


def test_with_a_publisher_delay_the_event_is_seen_pending_then_published(lab_url: str) -> None:
    at = _lab_mode()
    at.slider(key=DELAY_KEY).set_value(2.0).run()
    no_exception(at)
    at.button(key="eventing_start").click().run()
    no_exception(at)

    event_id = _calculate(at)
    assert "pending since" in _watch_line(at, event_id)
    # The relay claims the event and holds it for the delay before publishing it.
    wait_until(
        lambda: _status_of(lab_url, event_id)[0] == "published",
        "the event to publish",
        timeout=WAIT_SECONDS,
    )
    _, took = _status_of(lab_url, event_id)
    assert took >= 2.0  # it was held for the delay before publishing
    at.run()
    no_exception(at)
    assert "published at" in _watch_line(at, event_id)
    assert at.slider(key=DELAY_KEY).value == 2.0

    # Back to no delay: the next event goes out with the relay's next poll.
    at.slider(key=DELAY_KEY).set_value(0.0).run()
    later = _calculate(at)
    wait_until(
        lambda: _status_of(lab_url, later)[0] == "published", "the next event", timeout=WAIT_SECONDS
    )
    at.button(key="eventing_stop").click().run()
    no_exception(at)


def test_the_projection_converges_to_air_scores(lab_url: str) -> None:
    at = _lab_mode()
    # A new score's event is pending: the projection lags behind air_scores.
    event_id = _calculate(at)
    [verdict] = _verdicts(at)
    assert verdict.startswith("matches air_scores: no (1 difference)"), verdict
    assert [e.label for e in at.expander if e.label.startswith("What differs")] == [
        "What differs (1)"
    ]

    at.button(key="eventing_one_pass").click().run()
    no_exception(at)

    def converged() -> bool:
        return not query(lab_url, projection_differences)

    wait_until(converged, "the lab's consumer to apply every published event", timeout=WAIT_SECONDS)
    at.run()
    no_exception(at)
    [verdict] = _verdicts(at)
    assert verdict.startswith("matches air_scores: yes"), verdict
    assert "0 duplicate deliveries skipped" in verdict
    delivered = next(f.value for f in at.dataframe if "event_id" in f.value.columns)
    assert event_id in list(delivered["event_id"])
    received = list(delivered["received"])
    assert received == sorted(received)  # oldest first
    summary = next(f.value for f in at.dataframe if "scores" in f.value.columns)
    assert len(summary) >= 1

    # The broker delivers the score event again (as after a relay killed between publishing
    # and marking): the inbox skips it and the projection still matches.
    broker = memory_broker()
    [again] = [d.message for d in broker.messages() if d.message.id == event_id]
    asyncio.run(broker.publish([again]))

    def skipped() -> bool:
        at.run()
        no_exception(at)
        return "1 duplicate delivery skipped" in _verdicts(at)[0]

    wait_until(skipped, "the lab's consumer to skip the duplicate", timeout=WAIT_SECONDS)
    [verdict] = _verdicts(at)
    assert verdict.startswith("matches air_scores: yes"), verdict
    delivered = next(f.value for f in at.dataframe if "event_id" in f.value.columns)
    assert list(delivered["event_id"]).count(event_id) == 2


def test_the_lab_consumer_reads_redis_streams_as_a_group_of_its_own(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    prefix = services.unique_name("qulab_app_lab") + ":"
    monkeypatch.setenv("QULAB_BROKER_URL", redis_url)
    monkeypatch.setenv("QULAB_OUTBOX_STREAM_PREFIX", prefix)
    try:
        at = _lab_mode()
        event_id = _calculate(at)
        at.button(key="eventing_one_pass").click().run()
        no_exception(at)
        wait_until(
            lambda: not query(sqlite_url, projection_differences),
            "the projection",
            timeout=WAIT_SECONDS,
        )
        at.run()
        [verdict] = _verdicts(at)
        assert verdict.startswith("matches air_scores: yes"), verdict
        delivered = next(f.value for f in at.dataframe if "event_id" in f.value.columns)
        assert event_id in list(delivered["event_id"])
        groups = asyncio.run(_groups(f"{prefix}outbox.event.AIRScore"))
        assert "qulab-lab" in groups
    finally:
        asyncio.run(services.delete_redis_prefix(prefix))


async def _groups(stream: str) -> list[str]:
    client = Redis.from_url(services.REDIS_URL, decode_responses=True)
    try:
        return [group["name"] for group in await client.xinfo_groups(stream)]
    finally:
        await client.aclose()


def test_break_it_on_the_embedded_broker_says_what_to_configure(sqlite_url: str) -> None:
    at = _lab_mode()
    [message] = [t for t in texts(at.info) if "chaos round" in t]
    assert "QULAB_BROKER_URL=redis://127.0.0.1:6379/0" in message
    assert "restart the app" in message
    assert not [b for b in at.button if b.label == BREAK_IT_LABEL]


def test_break_it_runs_a_small_round_on_postgresql_and_redis(
    fresh_pg_url: str, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    prefix = services.unique_name("qulab_app_chaos") + ":"
    monkeypatch.setenv("QULAB_DATABASE_URL", fresh_pg_url)
    monkeypatch.setenv("QULAB_BROKER_URL", redis_url)
    monkeypatch.setenv("QULAB_OUTBOX_STREAM_PREFIX", prefix)
    try:
        at = _lab_mode()
        at.button(key="eventing_break_it").click().run(timeout=ROUND_TIMEOUT)
        no_exception(at)
        metrics = _metrics(at)
        assert int(metrics["Events"]) >= 100
        assert metrics["Lost"] == "0"
        assert metrics["Inversions"] == "0"
        assert metrics["Duplicate effects"] == "0"
        assert metrics["Projection matches"] == "yes"
        assert int(metrics["Duplicate deliveries"]) >= 0
        [verdict] = [t for t in texts(at.success) if t.startswith("Round ")]
        assert verdict.startswith("Round passed: 2 relays, 2 consumers, 3 SIGKILLs")
        meanings = "\n".join(shown(at.markdown))
        assert "Duplicate deliveries: Times an already applied event" in meanings
    finally:
        asyncio.run(services.delete_redis_prefix(prefix))


def test_seeded_demo_users_are_left_out_of_the_projection_and_the_page_says_so(
    sqlite_url: str,
) -> None:
    at = go_to(open_runtime(), CONNECTIVITY)
    next(b for b in at.button if b.label == SETUP_LABEL).click().run()
    at = go_to(at, REPOSITORY)
    at.number_input(key="nplusone_n").set_value(8).run()
    at.button(key="compare_all").click().run()  # seeds 8 users with scores, without events
    no_exception(at)
    at = go_to(at, EVENTING)
    at.toggle(key=LAB_MODE_KEY).set_value(True).run()
    _calculate(at)
    no_exception(at)
    [verdict] = _verdicts(at)
    assert verdict.startswith("matches air_scores: no (1 difference)"), verdict
    differs = [d.value for d in at.dataframe if "scores (air_scores)" in d.value.columns]
    assert [list(frame["scores (projection)"]) for frame in differs] == [[0]]
    assert not [t for t in texts(at.code) if "SummaryRow(" in t]

    async def unexplained(db: Database) -> list[object]:
        return list(await projection_mismatches(db, excluding=seeded_users(NPLUSONE_MARKER)))

    assert len(query(sqlite_url, projection_differences)) == 9  # the seeded 8 and the score
    at.button(key="eventing_one_pass").click().run()
    wait_until(
        lambda: not query(sqlite_url, unexplained),
        "the lab's consumer to apply the score",
        timeout=WAIT_SECONDS,
    )
    at.run()
    no_exception(at)
    [verdict] = _verdicts(at)
    assert verdict.startswith("matches air_scores: yes"), verdict
    assert any(
        caption.startswith("8 seeded demo users (pages 2 and 3, `qulab seed`) are left out")
        for caption in texts(at.caption)
    )
