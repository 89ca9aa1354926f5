"""The ORM tax ladder as the lab measures it: the same row on every rung, interleaved rounds."""

from __future__ import annotations

import pytest

from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.core.errors import InvalidInput, ServiceUnavailable
from qulab.lab.driver_floor import floor_reader
from qulab.lab.orm_tax import CORE, FLOOR, ORM, Contender, interleave, measure_orm_tax
from tests import services
from tests.service_calls import create_user


async def test_the_floor_reads_the_same_row_as_the_data_layer(db: Database) -> None:
    user = await create_user(db, email="fl@example.com", name="Floor")
    async with floor_reader(db) as read:
        row = await read(user.id)
    assert (row[0], row[1], row[2]) == (user.id, user.email, user.name)


async def test_the_ladder_has_one_timing_per_round_for_each_rung(db: Database) -> None:
    user = await create_user(db, email="la@example.com", name="Ladder")

    ladder = await measure_orm_tax(db, user.id, rounds=3, reads=2, warmup=1)

    assert [rung.key for rung in ladder.rungs] == [FLOOR, CORE, ORM]
    assert all(len(rung.per_read_s) == 3 for rung in ladder.rungs)
    assert all(rung.median_s > 0 for rung in ladder.rungs)
    assert ladder.ratio(ladder.floor) == 1.0
    assert (ladder.rounds, ladder.reads, ladder.database) == (3, 2, db.description)


async def test_rounds_rotate_the_order_of_the_rungs() -> None:
    calls: list[str] = []

    def contender(key: str) -> Contender:
        async def read(_: str) -> None:
            calls.append(key)

        return Contender(key, key, read)

    rungs = await interleave(
        [contender("a"), contender("b"), contender("c")], ["id"], rounds=2, reads=1, warmup=1
    )

    assert calls == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert [len(rung.per_read_s) for rung in rungs] == [2, 2, 2]


@pytest.mark.parametrize(("field", "values"), [("rounds", (0, 101)), ("reads", (0, 10_001))])
async def test_out_of_range_sizes_are_refused(
    db: Database, field: str, values: tuple[int, ...]
) -> None:
    user = await create_user(db, email="sz@example.com", name="Sizes")
    for value in values:
        with pytest.raises(InvalidInput, match=field):
            await measure_orm_tax(db, user.id, **{field: value})


async def test_an_in_memory_database_has_no_floor_to_measure() -> None:
    db = Database(Settings().replace(database_url="sqlite+aiosqlite:///:memory:"))
    try:
        with pytest.raises(InvalidInput, match="in-memory SQLite"):
            await measure_orm_tax(db, "00000000-0000-4000-8000-000000000000")
    finally:
        await db.dispose()


async def test_an_unreachable_floor_is_service_unavailable() -> None:
    port = services.free_port()
    db = Database(
        Settings().replace(database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{port}/none")
    )
    try:
        with pytest.raises(ServiceUnavailable, match="database unreachable"):
            async with floor_reader(db):
                pass
    finally:
        await db.dispose()
