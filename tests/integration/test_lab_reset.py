"""Resetting the embedded database: everything goes, the schema and samples come back."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from qulab.core.cache import Outcome
from qulab.core.db import Database
from qulab.core.errors import UserError
from qulab.lab import DEMO_USERS, create_sample_airscore, run_db_setup_and_create_user
from qulab.lab.reset import reset_database, reset_lab_rows
from qulab.platform import migrate
from qulab.platform.cache import read_user_cached
from qulab.platform.models import AIRScore, User
from qulab.platform.services.seeding import count_seeded, ensure_seeded
from tests.cache_support import make_cache, new_prefix
from tests.service_calls import create_user


async def _emails(db: Database) -> set[str]:
    async with db.session() as session:
        return set((await session.scalars(select(User.email))).all())


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_reset_drops_every_row_and_recreates_the_sample_users(db: Database) -> None:
    first = await run_db_setup_and_create_user(db)
    await create_user(db, email="extra@example.com", name="Extra")

    result = await reset_database(db)

    assert await _emails(db) == {email for email, *_ in DEMO_USERS}
    assert result.alex.id != first.alex.id
    assert set(result.created) == {email for email, *_ in DEMO_USERS}
    assert await migrate.is_up_to_date(db)


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_reset_refuses_postgresql_and_deletes_nothing(db: Database) -> None:
    await run_db_setup_and_create_user(db)
    with pytest.raises(UserError, match="only for the embedded SQLite"):
        await reset_database(db)
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 2


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_reset_drops_the_old_users_from_the_cache(db: Database) -> None:
    first = await run_db_setup_and_create_user(db)
    cache = make_cache("memory", new_prefix())
    cache.subscribe(db.bus)
    try:
        await read_user_cached(db, cache, first.alex.id)
        assert (await read_user_cached(db, cache, first.alex.id)).outcome is Outcome.HIT

        await reset_database(db)

        after = await read_user_cached(db, cache, first.alex.id)
        assert (after.outcome, after.value) == (Outcome.MISS, None)
    finally:
        cache.unsubscribe(db.bus)
        await cache.close()


async def test_resetting_the_lab_rows_removes_only_what_the_lab_wrote(db: Database) -> None:
    first = await run_db_setup_and_create_user(db)
    mine = await create_user(db, email="mine@example.com", name="Mine")
    await create_sample_airscore(mine.id, db=db)
    bystander = await create_user(db, email="someone@example.com", name="Someone Else")
    await create_sample_airscore(bystander.id, db=db)
    await ensure_seeded(db, 3, 2, marker="labpool")
    await ensure_seeded(db, 2, 1, marker="notthelab")

    outcome = await reset_lab_rows(db, created=[mine.id], markers=["labpool"])

    assert outcome.removed == 2 + 1 + 3
    emails = await _emails(db)
    assert "mine@example.com" not in emails and "someone@example.com" in emails
    assert {email for email, *_ in DEMO_USERS} <= emails
    assert outcome.setup.alex.id != first.alex.id
    assert await count_seeded(db, "labpool") == 0 and await count_seeded(db, "notthelab") == 2
    async with db.session() as session:
        owners = set((await session.scalars(select(AIRScore.user_id))).all())
    assert bystander.id in owners and mine.id not in owners
