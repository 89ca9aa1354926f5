"""The lean read path: one Core statement into a read model, equal to what the ORM path builds."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from qulab.core.cache import Cache
from qulab.core.db import Database
from qulab.core.errors import InvalidInput
from qulab.lab import create_sample_airscore
from qulab.platform import read_models, views
from qulab.platform.cache import read_latest_score_cached, read_user_cached
from qulab.platform.models import User
from qulab.platform.repositories import ScoreRepository, UserRepository
from qulab.platform.schemas import ScoreRead, UserRead
from tests.cache_support import subscribed_cache
from tests.service_calls import create_user

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


async def _orm_user(db: Database, user_id: str) -> UserRead:
    async with db.session() as session:
        return UserRead.model_validate(await UserRepository(session).get(user_id))


async def _orm_latest_score(db: Database, user_id: str) -> ScoreRead:
    async with db.session() as session:
        score = await ScoreRepository(session).get_latest_or_none(user_id)
        assert score is not None
        return ScoreRead.model_validate(score)


async def test_a_user_by_id_is_one_select_and_equals_the_orm_read_model(db: Database) -> None:
    user = await create_user(
        db, email="ada@example.com", name="Ada", occupation_code="SW_ENG", years_experience=3.5
    )

    with db.count_statements() as counter:
        found = await read_models.read_user(db, user.id)

    assert found == await _orm_user(db, user.id) == user
    assert counter.count == 1
    [statement] = counter.statements
    assert statement.startswith("SELECT users.id, users.email, users.name")
    assert "FROM users WHERE users.id = " in statement


async def test_the_latest_score_is_one_select_and_equals_the_orm_read_model(
    db: Database,
) -> None:
    user = await create_user(db, email="bo@example.com", name="Bo")
    await create_sample_airscore(user.id, db=db)
    newest = await create_sample_airscore(user.id, db=db)

    with db.count_statements() as counter:
        found = await read_models.read_latest_score(db, user.id)

    assert found is not None and found.id == newest.id
    assert found == await _orm_latest_score(db, user.id)
    assert found.calculation_metadata == newest.calculation_metadata
    assert counter.count == 1
    assert "FROM air_scores WHERE air_scores.user_id = " in counter.statements[0]
    assert "ORDER BY air_scores.created_at DESC, air_scores.id DESC LIMIT" in counter.statements[0]


async def test_unknown_ids_read_as_none_in_one_statement_each(db: Database) -> None:
    with db.count_statements() as counter:
        assert await read_models.read_user(db, UNKNOWN_ID) is None
        assert await read_models.read_latest_score(db, UNKNOWN_ID) is None
    assert counter.count == 2


async def test_a_malformed_id_is_refused_before_any_statement(db: Database) -> None:
    with db.count_statements() as counter:
        with pytest.raises(InvalidInput, match="user_id"):
            await read_models.read_user(db, "not-a-uuid")
        with pytest.raises(InvalidInput, match="user_id"):
            await read_models.read_latest_score(db, "not-a-uuid")
    assert counter.count == 0


async def test_a_cache_miss_loads_with_one_core_statement(db: Database) -> None:
    user = await create_user(db, email="cy@example.com", name="Cy")
    score = await create_sample_airscore(user.id, db=db)
    async with subscribed_cache("memory", db) as cache:
        with db.count_statements() as counter:
            loaded_user = (await read_user_cached(db, cache, user.id)).value
            loaded_score = (await read_latest_score_cached(db, cache, user.id)).value
        assert (loaded_user, loaded_score) == (user, score)
        assert counter.count == 2
        assert "FROM users WHERE users.id" in counter.statements[0]
        assert "FROM air_scores WHERE air_scores.user_id" in counter.statements[1]
        await _hits_run_nothing(db, cache, user.id)


async def _hits_run_nothing(db: Database, cache: Cache, user_id: str) -> None:
    with db.count_statements() as counter:
        await read_user_cached(db, cache, user_id)
        await read_latest_score_cached(db, cache, user_id)
    assert counter.count == 0


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_postgresql_reads_run_outside_a_transaction(db: Database) -> None:
    """No BEGIN before a read and no ROLLBACK after it: the driver is never in a transaction.
    A session that may write (the control) is."""
    user = await create_user(db, email="di@example.com", name="Di")

    async with db.read_connection() as conn:
        assert await read_models.user_by_id(conn, user.id) == user
        assert not await _driver_in_transaction(conn)
    async with db.reading() as session:
        assert await UserRepository(session).get(user.id) is not None
        assert not await _driver_in_transaction(await session.connection())
    async with db.session() as session:
        assert await UserRepository(session).get(user.id) is not None
        assert await _driver_in_transaction(await session.connection())


async def _driver_in_transaction(connection: AsyncConnection) -> bool:
    """Whether asyncpg itself is in a transaction on this connection."""
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    return bool(driver.is_in_transaction())


async def test_a_read_session_refuses_to_write_and_nothing_is_stored(db: Database) -> None:
    async with db.reading() as session:
        session.add(User(email="sneak@example.com", name="Sneak"))
        with pytest.raises(RuntimeError, match="a read session writes nothing"):
            await session.flush()
    assert await views.user_count(db) == 0
