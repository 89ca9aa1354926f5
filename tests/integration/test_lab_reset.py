"""Resetting the embedded database: everything goes, the schema and samples come back."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from qulab.core.cache import Outcome
from qulab.core.db import Database
from qulab.core.errors import UserError
from qulab.lab import DEMO_USERS, run_db_setup_and_create_user
from qulab.lab.reset import reset_database
from qulab.platform import migrate
from qulab.platform.cache import read_user_cached
from qulab.platform.models import User
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
