"""The inbox makes a consumer's effects exactly-once, and the score-summary projection agrees
with ``air_scores`` (on SQLite and PostgreSQL, fed by the embedded broker)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from qulab.core.consumers import Delivery, MemorySource, apply_once, inbox_counts
from qulab.core.db import Database
from qulab.core.ids import new_id
from qulab.core.models import InboxEntry
from qulab.core.outbox import MemoryBroker, OutboxMessage, publish_pending
from qulab.platform.projection import ScoreSummaryProjection, projection_differences
from tests.consumer_support import consume_all, scored_users, summaries


def score_event(user_id: str, score: float, event_id: str | None = None) -> Delivery:
    return Delivery(
        event_id=event_id or new_id(),
        type="score.calculated",
        aggregate_type="AIRScore",
        aggregate_id=new_id(),
        occurred_at=datetime.now(UTC),
        payload={"user_id": user_id, "score_id": new_id(), "air_score": score},
    )


async def test_a_redelivered_event_has_one_effect_and_counts_one_duplicate(db: Database) -> None:
    projection = ScoreSummaryProjection()
    event = score_event("u-1", 70.0)

    assert await apply_once(db, "score-summary", event, projection.apply) is True
    assert await apply_once(db, "score-summary", event, projection.apply) is False

    [summary] = (await summaries(db)).values()
    assert (summary.user_id, summary.score_count, summary.mean_score) == ("u-1", 1, 70.0)
    assert summary.last_event_id == event.event_id
    assert await inbox_counts(db) == {"score-summary": (1, 1)}
    async with db.session() as session:
        [entry] = (await session.execute(select(InboxEntry))).scalars()
    assert (entry.event_id, entry.deliveries) == (event.event_id, 2)


async def test_a_failing_handler_leaves_neither_effect_nor_inbox_row(db: Database) -> None:
    event = score_event("u-2", 50.0)

    async def explode(conn: object, delivery: Delivery) -> None:
        await ScoreSummaryProjection().apply(conn, delivery)  # type: ignore[arg-type]
        raise RuntimeError("handler failed after writing")

    with pytest.raises(RuntimeError):
        await apply_once(db, "score-summary", event, explode)
    assert await summaries(db) == {}
    assert await inbox_counts(db) == {}
    assert await apply_once(db, "score-summary", event, ScoreSummaryProjection().apply)


async def test_a_score_arriving_after_its_user_was_deleted_changes_nothing(db: Database) -> None:
    projection = ScoreSummaryProjection()
    await apply_once(db, "p", score_event("u-3", 60.0), projection.apply)
    deleted = Delivery(new_id(), "user.deleted", "User", "u-3", None, {"user_id": "u-3"})
    await apply_once(db, "p", deleted, projection.apply)
    await apply_once(db, "p", score_event("u-3", 90.0), projection.apply)

    summary = (await summaries(db))["u-3"]
    assert (summary.deleted, summary.score_count, summary.latest_score) == (True, 0, None)


async def test_the_projection_equals_air_scores_after_a_run(db: Database) -> None:
    users = await scored_users(db, [3, 1, 4, 0, 2], deleted=1)
    broker = MemoryBroker("projection-test", maxlen=10_000)
    await publish_pending(db, broker)
    source = MemorySource(broker, aggregate_types=ScoreSummaryProjection.aggregate_types)

    result = await consume_all(db, source)

    # 5 user.created + 10 score.calculated + 1 user.deleted
    assert (result.processed, result.duplicates) == (16, 0)
    assert await projection_differences(db) == []
    rows = await summaries(db)
    assert rows[users[0]].deleted and rows[users[0]].score_count == 0
    assert rows[users[2]].score_count == 4
    assert users[3] not in rows

    source.position = 0  # the whole stream delivered again
    again = await consume_all(db, source)
    assert (again.processed, again.duplicates) == (0, 16)
    assert await projection_differences(db) == []


async def test_a_projection_that_double_counted_is_reported(db: Database) -> None:
    [user_id] = await scored_users(db, [2])
    broker = MemoryBroker("double-count-test", maxlen=100)
    await publish_pending(db, broker)
    source = MemorySource(broker, aggregate_types=ScoreSummaryProjection.aggregate_types)
    await consume_all(db, source)
    source.position = 0
    await consume_all(db, source, name="a second consumer writing the same projection")

    [problem] = await projection_differences(db)
    assert problem.startswith(f"user {user_id}: air_scores says SummaryRow(count=2")
    assert "projection says SummaryRow(count=4" in problem


async def test_an_event_that_cannot_be_applied_is_logged_skipped_and_the_rest_applied(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    broker = MemoryBroker("poison-test", maxlen=100)
    now = datetime.now(UTC)

    def message(event_id: str, payload: str, sequence: int) -> OutboxMessage:
        return OutboxMessage(
            event_id, "score.calculated", "AIRScore", new_id(), now, payload, sequence
        )

    poison = message(new_id(), '{"user_id": "u-9", "air_score": "not a number"}', 1)
    good = message(new_id(), '{"user_id": "u-9", "air_score": 40.0}', 2)
    await broker.publish([poison, good])
    source = MemorySource(broker, aggregate_types=ScoreSummaryProjection.aggregate_types)

    result = await consume_all(db, source)

    assert (result.processed, result.duplicates, result.rejected) == (1, 0, 1)
    assert (await summaries(db))["u-9"].score_count == 1
    assert await inbox_counts(db) == {"score-summary": (1, 0)}
    [line] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert line.startswith(f"event {poison.id} (score.calculated) cannot be applied, skipped: ")
