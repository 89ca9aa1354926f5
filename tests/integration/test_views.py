"""The read side: what the lab and the CLI show, read back as read models."""

from __future__ import annotations

import pytest

from qulab.core.db import Database
from qulab.core.errors import InvalidInput, NotFound
from qulab.core.outbox import MemoryBroker, RetryPolicy, publish_pending
from qulab.platform import views
from qulab.platform.events import SCORE_AGGREGATE
from qulab.platform.models import EventType
from qulab.platform.services.scoring import calculate_and_store_airscore
from tests.outbox_helpers import RejectingPublisher, emit_events
from tests.service_calls import create_user

GIVE_UP_AT_ONCE = RetryPolicy(max_attempts=1, base=0.01, cap=0.01, jitter=0)


async def test_outbox_tables_split_events_by_status(db: Database) -> None:
    first, second, poison = await emit_events(db, 3)
    rejecting = RejectingPublisher(MemoryBroker("t", 10), {poison})
    await publish_pending(db, rejecting, policy=GIVE_UP_AT_ONCE)
    [waiting] = await emit_events(db, 1)

    tables = await views.outbox_tables(db)

    assert [row.id for row in tables.pending] == [waiting]
    assert {row.id for row in tables.published} == {first, second}
    assert all(row.published_at is not None for row in tables.published)
    assert [(row.id, row.attempts, row.last_error) for row in tables.failed] == [
        (poison, 1, "rejected: poison")
    ]
    assert len((await views.outbox_tables(db, limit=1)).published) == 1


async def test_score_event_is_the_event_written_with_the_score(db: Database) -> None:
    user = await create_user(db, email="ev@example.com", name="Ev")
    score = await calculate_and_store_airscore(db, user.id)

    event = await views.score_event(db, score.id)

    assert event is not None
    assert (event.event_type, event.aggregate_type, event.aggregate_id) == (
        EventType.SCORE_CALCULATED.value,
        SCORE_AGGREGATE,
        score.id,
    )
    assert await views.score_event(db, user.id) is None
    assert await views.aggregate_types(db) == sorted({SCORE_AGGREGATE, "User"})


async def test_user_reads_return_read_models_in_creation_order(db: Database) -> None:
    ada = await create_user(db, email="ada@example.com", name="Ada")
    bo = await create_user(db, email="bo@example.com", name="Bo")

    found = await views.users_by_email(db, ["bo@example.com", "nobody@example.com"])
    assert found == {"bo@example.com": bo, "nobody@example.com": None}
    assert await views.user_ids(db) == [ada.id, bo.id]
    assert await views.user_ids(db, 1) == [ada.id]
    assert await views.user_count(db) == 2
    assert await views.find_user(db, ada.id) == ada
    assert [u.id for u in await views.list_users(db, limit=1, offset=1)] == [bo.id]


async def test_a_user_with_their_latest_score(db: Database) -> None:
    assert await views.user_with_latest_score(db, "cy@example.com") is None
    cy = await create_user(db, email="cy@example.com", name="Cy")
    before = await views.user_with_latest_score(db, "cy@example.com")
    assert before == views.UserWithLatestScore(cy, None)
    score = await calculate_and_store_airscore(db, cy.id)
    after = await views.user_with_latest_score(db, "cy@example.com")
    assert after == views.UserWithLatestScore(cy, score)


async def test_bad_reads_are_user_errors_and_touch_nothing(db: Database) -> None:
    with pytest.raises(InvalidInput, match="limit"):
        await views.list_users(db, limit=0)
    with pytest.raises(InvalidInput, match="offset"):
        await views.list_users(db, offset=-1)
    with pytest.raises(InvalidInput, match="user_id"):
        await views.get_user(db, "not-a-uuid")
    with pytest.raises(NotFound):
        await views.get_user(db, "00000000-0000-4000-8000-000000000000")
