"""Business operations write their change and its event in one transaction, on both backends."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import func, select

from qulab.core.db import Database
from qulab.core.errors import ConflictError, InvalidInput, NotFound
from qulab.core.models import DomainEvent, EventStatus
from qulab.core.outbox import MemoryBroker, publish_pending
from qulab.platform import airscore
from qulab.platform.events import Event, affected_users
from qulab.platform.models import AIRScore, EventType
from qulab.platform.schemas import CalculateScore, parse
from qulab.platform.services.scoring import calculate_and_store_airscore, calculate_score
from qulab.platform.uow import PlatformUnitOfWork
from tests.outbox_helpers import all_events
from tests.service_calls import complete_assessment, create_user, start_assessment


async def _user(db: Database) -> str:
    user = await create_user(
        db, email="ada@example.com", name="Ada", education_level="PhD", years_experience=12
    )
    return user.id


async def _counts(db: Database) -> tuple[int, int]:
    async with db.session() as session:
        scores = (await session.execute(select(func.count()).select_from(AIRScore))).scalar_one()
        events = (
            await session.execute(
                select(func.count())
                .select_from(DomainEvent)
                .where(DomainEvent.event_type == EventType.SCORE_CALCULATED.value)
            )
        ).scalar_one()
    return scores, events


async def test_score_and_its_event_are_committed_together(db: Database) -> None:
    user_id = await _user(db)
    score = await calculate_and_store_airscore(db, user_id, "DATA_SCI")

    events = [e for e in await all_events(db) if e.event_type == "score.calculated"]
    assert len(events) == 1
    event = events[0]
    assert (event.aggregate_type, event.aggregate_id) == ("AIRScore", score.id)
    assert event.status == EventStatus.PENDING.value
    assert event.payload["user_id"] == user_id
    assert event.payload["score_id"] == score.id
    assert event.payload["occupation_code"] == "DATA_SCI"
    assert event.payload["air_score"] == score.air_score
    assert score.parameter_version == airscore.PARAMETER_VERSION
    assert score.calculation_metadata["inputs"]["education_level"] == "PhD"


async def test_failure_between_insert_and_commit_leaves_neither_score_nor_event(
    db: Database,
) -> None:
    user_id = await _user(db)

    class FailingAfterFlush(PlatformUnitOfWork):
        async def commit(self) -> None:
            await self.session.flush()  # the score and the event rows are written...
            raise RuntimeError("injected failure before commit")  # ...and never committed

    command = parse(CalculateScore, user_id=user_id)
    with pytest.raises(RuntimeError, match="injected"):
        await calculate_score(command, lambda: FailingAfterFlush(db))
    assert await _counts(db) == (0, 0)

    await calculate_and_store_airscore(db, user_id)
    assert await _counts(db) == (1, 1)


async def test_unknown_user_is_not_found_and_nothing_is_written(db: Database) -> None:
    with pytest.raises(NotFound, match="user"):
        await calculate_and_store_airscore(db, "00000000-0000-4000-8000-000000000000")
    with pytest.raises(InvalidInput, match="user_id"):
        await calculate_and_store_airscore(db, "not-a-uuid")
    assert await _counts(db) == (0, 0)


async def test_bad_occupation_is_rejected_and_nothing_is_written(db: Database) -> None:
    user_id = await _user(db)
    with pytest.raises(InvalidInput, match="occupation_code"):
        await calculate_and_store_airscore(db, user_id, "X" * 21)
    assert await _counts(db) == (0, 0)


async def test_completed_assessment_emits_event_and_feeds_the_score(db: Database) -> None:
    user_id = await _user(db)
    before = await calculate_and_store_airscore(db, user_id)
    assessment = await start_assessment(db, user_id, "ai_fluency")
    done = await complete_assessment(db, assessment.id, ability=1.2, items_administered=40)

    assert done.status == "completed"
    [event] = [e for e in await all_events(db) if e.event_type == "assessment.completed"]
    assert (event.aggregate_type, event.aggregate_id) == ("Assessment", assessment.id)
    assert event.payload == {
        "assessment_id": assessment.id,
        "user_id": user_id,
        "component": "ai_fluency",
        "ability": 1.2,
        "items_administered": 40,
    }
    after = await calculate_and_store_airscore(db, user_id)
    assert after.air_score > before.air_score
    assert after.ci_upper - after.ci_lower < before.ci_upper - before.ci_lower

    with pytest.raises(ConflictError, match="already completed"):
        await complete_assessment(db, assessment.id, ability=0.0, items_administered=1)
    assert len([e for e in await all_events(db) if e.event_type == "assessment.completed"]) == 1


async def test_seed_flow_score_event_pending_then_relay_publishes_it(db: Database) -> None:
    user_id = await _user(db)
    score = await calculate_and_store_airscore(db, user_id)
    [pending] = [e for e in await all_events(db) if e.aggregate_id == score.id]
    assert pending.status == "pending" and pending.published_at is None

    broker = MemoryBroker("seed-flow", 10)
    await publish_pending(db, broker)

    [published] = [e for e in await all_events(db) if e.aggregate_id == score.id]
    assert published.status == "published"
    assert published.published_at is not None
    assert score.id in [d.message.aggregate_id for d in broker.messages()]


async def test_bus_handlers_learn_the_scored_user(db: Database) -> None:
    user_id = await _user(db)
    seen: list[set[str]] = []

    async def handler(events: Sequence[Event]) -> None:
        seen.append({user for event in events for user in affected_users(event)})

    db.bus.subscribe(Event, handler)
    await calculate_and_store_airscore(db, user_id)
    assert seen == [{user_id}]
