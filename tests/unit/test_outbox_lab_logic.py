"""The lab's chaos round plan and its configuration check, and the event watch line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qulab.core.config import Settings
from qulab.core.outbox.repository import EventRow
from qulab.entrypoints.app.event_watch_view import event_line
from qulab.lab.chaos_round import BROKER_NEEDED, chaos_round_plan, chaos_round_problem

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/qulab"
SQLITE = "sqlite+aiosqlite:///lab.db"


@pytest.mark.parametrize("broker", [None, "memory://", "stdout://"])
def test_a_round_needs_a_broker_other_processes_reach(broker: str | None) -> None:
    settings = Settings().replace(database_url=SQLITE, broker_url=broker)
    assert chaos_round_problem(settings) == BROKER_NEEDED
    assert "QULAB_BROKER_URL=redis://127.0.0.1:6379/0" in BROKER_NEEDED
    assert "guest" not in BROKER_NEEDED  # no credentials on screen


@pytest.mark.parametrize(
    ("database", "relays"), [(SQLITE, 1), (PG, 2)], ids=["sqlite-one-relay", "postgresql-two"]
)
def test_the_round_is_small_and_runs_one_relay_on_sqlite(database: str, relays: int) -> None:
    settings = Settings().replace(database_url=database, broker_url="redis://127.0.0.1:6379/0")
    assert chaos_round_problem(settings) is None
    plan = chaos_round_plan(settings)
    assert (plan.relays, plan.consumers, plan.events, plan.kills) == (relays, 2, 100, 3)
    assert plan.broker == "redis://127.0.0.1:6379/0"


def _row(status: str, published_at: datetime | None = None, attempts: int = 0) -> EventRow:
    created = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    return EventRow(
        id="e1",
        event_type="score.calculated",
        aggregate_type="AIRScore",
        aggregate_id="s1",
        payload={},
        status=status,
        attempts=attempts,
        last_error=None,
        sequence=1,
        created_at=created,
        updated_at=created,
        published_at=published_at,
        next_attempt_at=None,
    )


def test_the_watch_line_says_pending_then_published_and_how_long_it_took() -> None:
    pending = _row("pending")
    assert event_line(pending, "e1") == (
        "Event `e1` (score.calculated): **pending** since 12:00:00.000 UTC."
    )
    published = _row(
        "published", published_at=pending.created_at + timedelta(seconds=2.5), attempts=1
    )
    assert event_line(published, "e1") == (
        "Event `e1` (score.calculated): **published** at 12:00:02.500 UTC, "
        "2.5 s after it was written."
    )
    assert "not among the latest events" in event_line(None, "e9")
