"""Deleting a user: one statement the database cascades, a ``user.deleted`` event in the same
transaction, and writes racing with the delete end as NotFound or ConflictError, never as a raw
IntegrityError."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from qulab.core.cache import Outcome
from qulab.core.config import Settings
from qulab.core.db import Database, count_session_statements
from qulab.core.errors import ConflictError, NotFound
from qulab.core.models import DomainEvent, EventStatus
from qulab.lab import create_sample_airscore
from qulab.platform import Work, migrate
from qulab.platform.airscore import ScoringInputs
from qulab.platform.cache import read_latest_score_cached, read_user_cached
from qulab.platform.events import UserDeleted
from qulab.platform.models import AIRScore, Assessment, User
from qulab.platform.repositories import AssessmentRepository, UserRepository
from qulab.platform.schemas import UserRead
from qulab.platform.services import scoring
from qulab.platform.services.scoring import calculate_and_store_airscore
from qulab.platform.uow import PlatformUnitOfWork
from tests import service_calls as assessments
from tests import services
from tests.cache_support import delete_prefix, make_cache, new_prefix, stored_entry
from tests.service_calls import create_user, delete_user, update_user
from tests.waiting import eventually


async def rows(db: Database, model: type, user_id: str | None = None) -> int:
    statement = select(func.count()).select_from(model)
    if user_id is not None:
        statement = statement.where(model.user_id == user_id)  # type: ignore[attr-defined]
    async with db.session() as session:
        return int((await session.execute(statement)).scalar_one())


async def user_with_history(db: Database, email: str, scores: int = 3) -> UserRead:
    user = await create_user(db, email=email, name="Has History")
    for _ in range(scores):
        await create_sample_airscore(user.id, db=db)
    assessment = await assessments.start_assessment(db, user.id, "fluency")
    await assessments.complete_assessment(db, assessment.id, 0.4, 12)
    return user


async def events_of(db: Database, event_type: str) -> list[DomainEvent]:
    async with db.session() as session:
        result = await session.execute(
            select(DomainEvent).where(DomainEvent.event_type == event_type)
        )
        return list(result.scalars())


async def test_the_delete_is_one_statement_and_the_database_cascades(db: Database) -> None:
    gone = await user_with_history(db, "gone@example.com")
    stay = await user_with_history(db, "stay@example.com", scores=2)
    async with PlatformUnitOfWork(db) as uow:
        async with count_session_statements(uow.session) as counter:
            await uow.users.delete(gone.id)
        await uow.commit()
    assert counter.count == 1, counter.statements
    assert counter.statements[0].startswith("DELETE FROM users WHERE users.id = ")
    assert await rows(db, User) == 1
    assert (await rows(db, AIRScore, gone.id), await rows(db, Assessment, gone.id)) == (0, 0)
    assert (await rows(db, AIRScore, stay.id), await rows(db, Assessment, stay.id)) == (2, 1)


async def test_delete_user_writes_the_delete_and_its_event_and_nothing_else(
    db: Database,
) -> None:
    user = await user_with_history(db, "counted@example.com")
    with db.count_statements() as counter:
        await delete_user(db, user.id)
    statements = [s.split(" (")[0].split(" VALUES")[0] for s in counter.statements]
    expected = ["DELETE FROM users WHERE users.id = ", "INSERT INTO domain_events"]
    if db.dialect == "postgresql":
        expected.append("SELECT pg_notify")
    assert len(statements) == len(expected), counter.statements
    assert [s[: len(e)] for s, e in zip(statements, expected, strict=True)] == expected


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_without_delete_returning_the_row_is_read_first_then_deleted(db: Database) -> None:
    """SQLite before 3.35 has no DELETE ... RETURNING: the delete then costs one more read."""
    user = await user_with_history(db, "old-sqlite@example.com")
    db.engine.dialect.delete_returning = False
    with db.count_statements() as counter:
        deleted = await delete_user(db, user.id)
    assert deleted == user
    assert [s.split(" FROM ")[0].split(" ")[0] for s in counter.statements] == [
        "SELECT",
        "DELETE",
        "INSERT",
    ]
    assert "RETURNING" not in counter.statements[1]
    assert (await rows(db, User), await rows(db, AIRScore), await rows(db, Assessment)) == (0, 0, 0)
    [event] = await events_of(db, "user.deleted")
    assert event.payload["email"] == "old-sqlite@example.com"
    with pytest.raises(NotFound):
        await delete_user(db, user.id)


async def test_delete_records_a_pending_user_deleted_event_with_id_and_email(
    db: Database,
) -> None:
    user = await user_with_history(db, "Evented@Example.com")
    await delete_user(db, user.id)
    [event] = await events_of(db, "user.deleted")
    assert (event.aggregate_type, event.aggregate_id) == ("User", user.id)
    assert event.status == EventStatus.PENDING.value
    assert event.payload == {
        "user_id": user.id,
        "email": "evented@example.com",
        "name": "Has History",
    }


async def test_deleting_an_unknown_user_writes_no_event(db: Database) -> None:
    missing = "00000000-0000-4000-8000-00000000d00d"
    with pytest.raises(NotFound, match=f"user {missing} not found"):
        await delete_user(db, missing)
    assert await events_of(db, "user.deleted") == []


async def test_a_delete_that_rolls_back_leaves_the_user_and_writes_no_event(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await user_with_history(db, "kept@example.com")

    async def fail_to_commit() -> None:
        raise RuntimeError("the transaction is abandoned")

    with pytest.raises(RuntimeError):
        async with PlatformUnitOfWork(db) as uow:
            await uow.users.delete(user.id)
            uow.record(UserDeleted(user.id, user.email, user.name))
            monkeypatch.setattr(uow.session, "commit", fail_to_commit)
            await uow.commit()
    assert await rows(db, User) == 1
    assert await rows(db, AIRScore, user.id) == 3
    assert await events_of(db, "user.deleted") == []


@pytest.mark.parametrize("cache_kind", ["memory", "redis"])
async def test_the_delete_drops_the_users_cache_entries(
    db: Database, cache_kind: str, request: pytest.FixtureRequest
) -> None:
    if cache_kind == "redis":
        request.getfixturevalue("redis_url")
    prefix = new_prefix()
    cache = make_cache(cache_kind, prefix)
    cache.subscribe(db.bus)
    try:
        user = await user_with_history(db, "cached@example.com")
        await read_user_cached(db, cache, user.id)
        await read_latest_score_cached(db, cache, user.id)
        assert await stored_entry(cache, "user", user.id) is not None
        assert await stored_entry(cache, "latest_airscore", user.id) is not None
        await delete_user(db, user.id)
        assert await stored_entry(cache, "user", user.id) is None
        assert await stored_entry(cache, "latest_airscore", user.id) is None
        after = await read_user_cached(db, cache, user.id)
        assert (after.outcome, after.value) == (Outcome.MISS, None)
    finally:
        cache.unsubscribe(db.bus)
        await cache.close()
        if cache_kind == "redis":
            await delete_prefix(services.REDIS_URL, prefix)


def delete_the_user_after_reading_it(db: Database, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make the scorer's read of a user be followed by that user's deletion (committed by
    another unit of work) before the score is inserted: the race, made deterministic."""
    read = scoring._inputs_for
    deleted: list[str] = []

    async def read_then_delete(uow: Work, user_id: str) -> ScoringInputs:
        inputs = await read(uow, user_id)
        await delete_user(db, user_id)
        deleted.append(user_id)
        return inputs

    monkeypatch.setattr(scoring, "_inputs_for", read_then_delete)
    return deleted


async def test_a_score_for_a_user_deleted_meanwhile_is_not_found_and_writes_nothing(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await create_user(db, email="late@example.com", name="Late")
    deleted = delete_the_user_after_reading_it(db, monkeypatch)
    with pytest.raises(NotFound) as caught:
        await calculate_and_store_airscore(db, user.id)
    assert str(caught.value) == f"user {user.id} not found"
    assert deleted == [user.id]
    assert await rows(db, AIRScore) == 0
    assert await events_of(db, "score.calculated") == []
    assert len(await events_of(db, "user.deleted")) == 1


async def test_an_assessment_for_a_user_deleted_meanwhile_is_not_found(db: Database) -> None:
    user = await create_user(db, email="gone-mid-start@example.com", name="Gone")
    async with PlatformUnitOfWork(db) as uow:
        await uow.users.get(user.id)
        await delete_user(db, user.id)
        with pytest.raises(NotFound, match=f"user {user.id} not found"):
            await uow.assessments.add(user.id, "fluency")
    assert await rows(db, Assessment) == 0


def delete_the_owner_after(
    db: Database, monkeypatch: pytest.MonkeyPatch, repository: type, method: str
) -> list[str]:
    """After ``repository.method`` first reads a row, delete its user in another unit of work:
    the row is gone (by cascade) before the caller writes to it."""
    read = getattr(repository, method)
    deleted: list[str] = []

    async def read_then_delete(self: object, ident: str) -> User | Assessment:
        found = await read(self, ident)
        if not deleted:
            owner = found.id if isinstance(found, User) else found.user_id
            await delete_user(db, owner)
            deleted.append(owner)
        return found  # type: ignore[no-any-return]

    monkeypatch.setattr(repository, method, read_then_delete)
    return deleted


async def test_updating_a_user_deleted_meanwhile_is_not_found_and_emits_nothing(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await create_user(db, email="renamed@example.com", name="Before")
    deleted = delete_the_owner_after(db, monkeypatch, UserRepository, "get")
    with pytest.raises(NotFound) as caught:
        await update_user(db, user.id, name="After")
    assert str(caught.value) == f"user {user.id} not found"
    assert deleted == [user.id]
    assert await events_of(db, "user.updated") == []


async def test_completing_an_assessment_removed_with_its_user_is_not_found(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await create_user(db, email="assessed@example.com", name="Assessed")
    started = await assessments.start_assessment(db, user.id, "fluency")
    deleted = delete_the_owner_after(db, monkeypatch, AssessmentRepository, "get")
    with pytest.raises(NotFound) as caught:
        await assessments.complete_assessment(db, started.id, 0.5, 10)
    assert str(caught.value) == f"assessment {started.id} not found"
    assert deleted == [user.id]
    assert await events_of(db, "assessment.completed") == []
    assert await rows(db, Assessment) == 0


@pytest.fixture
def private_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "postgresql":
        return str(request.getfixturevalue("fresh_pg_url"))
    return f"sqlite+aiosqlite:///{tmp_path / 'private.db'}"


@pytest.fixture
async def private_db(private_url: str) -> AsyncIterator[Database]:
    """A migrated database of this test alone, so it may add a table of its own."""
    url = private_url
    database = Database(Settings().replace(database_url=url))
    await migrate.upgrade(database)
    try:
        yield database
    finally:
        await database.dispose()


async def test_a_delete_blocked_by_another_reference_is_a_one_line_conflict(
    private_db: Database,
) -> None:
    db = private_db
    user = await user_with_history(db, "referenced@example.com")
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE TABLE user_notes (id INTEGER PRIMARY KEY,"
                " user_id VARCHAR(36) NOT NULL REFERENCES users (id))"
            )
        )
        await conn.execute(
            text("INSERT INTO user_notes (id, user_id) VALUES (1, :user_id)"), {"user_id": user.id}
        )
    with pytest.raises(ConflictError) as caught:
        await delete_user(db, user.id)
    message = str(caught.value)
    assert message.startswith(
        f"user {user.id} could not be deleted: other rows still refer to it ("
    )
    assert len(message.splitlines()) == 1
    assert await rows(db, User) == 1
    assert await rows(db, AIRScore, user.id) == 3
    assert await events_of(db, "user.deleted") == []


async def test_a_score_conflicting_with_a_stored_one_is_a_one_line_conflict(
    db: Database,
) -> None:
    user = await create_user(db, email="twice@example.com", name="Twice")
    first = await create_sample_airscore(user.id, db=db)
    async with PlatformUnitOfWork(db) as uow:
        with pytest.raises(ConflictError) as caught:
            await uow.scores.add(
                AIRScore(
                    id=first.id,
                    user_id=user.id,
                    occupation_code="SW_ENG",
                    air_score=1.0,
                    vr_score=0.1,
                    hr_score=0.1,
                    synergy_score=0.01,
                    ci_lower=0.0,
                    ci_upper=2.0,
                    parameter_version="t",
                )
            )
    message = str(caught.value)
    assert message.startswith(f"score for user {user.id} could not be stored: ")
    assert len(message.splitlines()) == 1
    assert await rows(db, AIRScore) == 1


async def test_scores_racing_a_delete_end_as_not_found_and_leave_no_orphans(
    db: Database,
) -> None:
    """Four writers add scores for a user as fast as they can while the user is deleted."""
    user = await user_with_history(db, "raced@example.com", scores=1)
    bystander = await user_with_history(db, "bystander@example.com", scores=2)

    async def add_scores_until_refused() -> list[BaseException]:
        failures: list[BaseException] = []
        for _ in range(2000):
            try:
                await calculate_and_store_airscore(db, user.id)
            except Exception as error:
                failures.append(error)
                if isinstance(error, NotFound):
                    break
        return failures

    writers = [asyncio.create_task(add_scores_until_refused()) for _ in range(4)]

    async def some_scores_were_added() -> bool:
        return await rows(db, AIRScore, user.id) >= 20

    try:
        await eventually(some_scores_were_added, "the writers to add 20 scores", timeout=60)
        await delete_user(db, user.id)
        async with asyncio.timeout(120):
            outcomes = await asyncio.gather(*writers)
    finally:
        for writer in writers:
            writer.cancel()
        await asyncio.gather(*writers, return_exceptions=True)

    failures = [error for failures in outcomes for error in failures]
    assert not [e for e in failures if isinstance(e, IntegrityError)], failures
    assert all(isinstance(e, NotFound | ConflictError) for e in failures), failures
    assert len([e for e in failures if isinstance(e, NotFound)]) == 4
    assert await rows(db, User) == 1
    assert (await rows(db, AIRScore, user.id), await rows(db, Assessment, user.id)) == (0, 0)
    assert (await rows(db, AIRScore, bystander.id), await rows(db, Assessment, bystander.id)) == (
        2,
        1,
    )
    async with db.session() as session:
        orphans = await session.execute(
            text(
                "SELECT count(*) FROM air_scores s LEFT JOIN users u ON u.id = s.user_id"
                " WHERE u.id IS NULL"
            )
        )
        assert orphans.scalar_one() == 0
    assert len(await events_of(db, "user.deleted")) == 1
