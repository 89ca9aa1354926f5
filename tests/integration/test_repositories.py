from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import InvalidRequestError

from qulab.core.db import Database
from qulab.core.errors import NotFound
from qulab.core.models import DomainEvent
from qulab.lab import create_sample_airscore, run_db_setup_and_create_user
from qulab.platform.errors import DuplicateEmailError
from qulab.platform.events import Event, UserCreated, UserUpdated, affected_users
from qulab.platform.models import AIRScore, Assessment, User
from qulab.platform.repositories import ScoreRepository, UserRepository
from qulab.platform.schemas import UserCreate
from qulab.platform.uow import PlatformUnitOfWork
from tests.service_calls import create_user, delete_user, update_user


async def count(db: Database, model: type) -> int:
    async with db.session() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_created_user_is_stored_with_aware_utc_timestamps(db: Database) -> None:
    user = await create_user(db, email="  Ada@Example.COM ", name=" Ada Lovelace ")
    async with db.session() as session:
        stored = await UserRepository(session).get(user.id)
    assert stored.email == "ada@example.com"
    assert stored.name == "Ada Lovelace"
    assert stored.created_at.tzinfo is not None
    assert stored.created_at.utcoffset() == UTC.utcoffset(None)
    assert stored.updated_at == stored.created_at or stored.updated_at >= stored.created_at


async def test_updated_at_moves_on_update_and_created_at_does_not(db: Database) -> None:
    user = await create_user(db, email="bo@example.com", name="Bo")
    await asyncio.sleep(0.01)
    updated = await update_user(db, user.id, name="Bo Updated")
    assert updated.name == "Bo Updated"
    assert updated.created_at == user.created_at
    assert updated.updated_at > user.updated_at


async def test_duplicate_email_is_rejected_and_nothing_is_written(db: Database) -> None:
    await create_user(db, email="dup@example.com", name="First")
    with pytest.raises(DuplicateEmailError, match="email"):
        await create_user(db, email="DUP@example.com", name="Second")
    assert await count(db, User) == 1
    assert await count(db, DomainEvent) == 1  # only the first user's user.created


async def test_user_creation_writes_user_created_event_in_same_transaction(db: Database) -> None:
    user = await create_user(db, email="ev@example.com", name="Ev")
    async with db.session() as session:
        events = (await session.execute(select(DomainEvent))).scalars().all()
    assert [(e.event_type, e.aggregate_id, e.status) for e in events] == [
        ("user.created", user.id, "pending")
    ]


async def test_delete_cascades_to_assessments_and_scores(db: Database) -> None:
    user = await create_user(db, email="gone@example.com", name="Gone")
    other = await create_user(db, email="stay@example.com", name="Stay")
    for _ in range(3):
        await create_sample_airscore(user.id, db=db)
    await create_sample_airscore(other.id, db=db)
    async with PlatformUnitOfWork(db) as uow:
        await uow.assessments.add(user.id, "fluency")
        await uow.commit()
    await delete_user(db, user.id)
    assert await count(db, User) == 1
    assert await count(db, AIRScore) == 1
    assert await count(db, Assessment) == 0


async def test_unknown_id_raises_not_found_and_get_by_id_returns_none(db: Database) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    async with db.session() as session:
        repo = UserRepository(session)
        assert await repo.get_one_or_none(missing) is None
        with pytest.raises(NotFound, match=missing):
            await repo.get(missing)
    with pytest.raises(NotFound):
        await delete_user(db, missing)
    with pytest.raises(NotFound):
        await update_user(db, missing, name="x")


async def test_eager_load_of_50_users_with_3_scores_runs_exactly_two_statements(
    db: Database,
) -> None:
    async with PlatformUnitOfWork(db) as uow:
        for i in range(50):
            user = await uow.users.add(UserCreate(email=f"u{i}@example.com", name=f"U{i}"))
            for _ in range(3):
                await create_sample_airscore(user.id, session=uow.session)
        await uow.commit()
    async with db.session() as session:
        with db.count_statements() as counter:
            users = await UserRepository(session).get_all_users_with_scores_eager()
            total = sum(len(u.scores) for u in users)
    assert len(users) == 50
    assert total == 150
    assert counter.count == 2, counter.statements


async def test_implicit_lazy_load_raises_instead_of_querying(db: Database) -> None:
    user = await create_user(db, email="lazy@example.com", name="Lazy")
    await create_sample_airscore(user.id, db=db)
    async with db.session() as session:
        loaded = await UserRepository(session).get(user.id)
        with (
            db.count_statements() as counter,
            pytest.raises(InvalidRequestError, match="raise_on_sql"),
        ):
            _ = loaded.scores
        assert counter.count == 0


async def test_latest_score_is_the_newest(db: Database) -> None:
    user = await create_user(db, email="late@example.com", name="Late")
    scores = [await create_sample_airscore(user.id, db=db) for _ in range(3)]
    async with db.session() as session:
        latest = await ScoreRepository(session).get_latest_or_none(user.id)
    assert latest is not None and latest.id == scores[-1].id


async def test_uow_rolls_back_unless_committed(db: Database) -> None:
    async with PlatformUnitOfWork(db) as uow:
        await uow.users.add(UserCreate(email="nc@example.com", name="No Commit"))
    with pytest.raises(RuntimeError):
        async with PlatformUnitOfWork(db) as uow:
            await uow.users.add(UserCreate(email="boom@example.com", name="Boom"))
            raise RuntimeError("boom")
    assert await count(db, User) == 0


async def test_bus_handlers_run_only_after_a_commit(db: Database) -> None:
    ran: list[str] = []

    async def handler(events: Sequence[Event]) -> None:
        ran.append(f"committed:{await count(db, User)}")

    db.bus.subscribe(Event, handler)
    async with PlatformUnitOfWork(db) as uow:
        user = await uow.users.add(UserCreate(email="h1@example.com", name="H1"))
        uow.record(UserCreated(user.id, user.email, user.name))
    assert ran == []
    async with PlatformUnitOfWork(db) as uow:
        user = await uow.users.add(UserCreate(email="h2@example.com", name="H2"))
        uow.record(UserCreated(user.id, user.email, user.name))
        await uow.commit()
    assert ran == ["committed:1"]


async def test_setup_is_idempotent_and_returns_alex_and_jane(db: Database) -> None:
    first = await run_db_setup_and_create_user(db)
    second = await run_db_setup_and_create_user(db)
    assert first.alex.name == "Alex Smith" and first.jane.name == "Jane Doe"
    assert len(first.created) == 2 and second.created == ()
    assert (second.alex.id, second.jane.id) == (first.alex.id, first.jane.id)
    assert await count(db, User) == 2


async def test_bus_handlers_learn_the_changed_users_only_after_commit(db: Database) -> None:
    seen: list[set[str]] = []

    async def listener(events: Sequence[Event]) -> None:
        seen.append({user for event in events for user in affected_users(event)})

    db.bus.subscribe(Event, listener)
    user = await create_user(db, email="cl@example.com", name="Cl")
    await update_user(db, user.id, name="Cl 2")
    score_user = await create_sample_airscore(user.id, db=db)
    async with PlatformUnitOfWork(db) as uow:
        uow.record(UserUpdated(user.id, {}))  # rolled back: listeners never hear of it
    assert score_user.user_id == user.id
    assert seen == [set(), {user.id}, {user.id}]


async def test_create_stores_a_user_as_given_and_does_not_validate_it_again(db: Database) -> None:
    """Input is validated once, where the command is built; the repository trusts it."""
    async with PlatformUnitOfWork(db) as uow:
        user = await uow.users.create(User(email="Kept.As@Given.example", name=" Kept "))
        await uow.commit()
    async with db.session() as session:
        stored = await session.get(User, user.id)
    assert stored is not None
    assert (stored.email, stored.name) == ("Kept.As@Given.example", " Kept ")
