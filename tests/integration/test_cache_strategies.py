"""The caching strategies on both stacks (SQLite + in-process, PostgreSQL + Redis): what each
serves after a write, what write-behind loses, what a stampede costs, and the version guard."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Mapping

import pytest

from qulab.core.db import Database
from qulab.lab.cache_compare import compare_strategies
from qulab.lab.strategies import (
    STRATEGY_NAMES,
    RefreshAhead,
    ScratchRows,
    StrategyFactory,
    WriteBehind,
    WriteThrough,
)
from qulab.lab.workload import VersionOracle, Workload
from tests.cache_support import ManualClock, new_prefix

# PostgreSQL runs with Redis (hence the mark), SQLite with the in-process cache.
WITH_REDIS = pytest.param("postgresql", marks=pytest.mark.redis)


@pytest.fixture(params=["sqlite", WITH_REDIS])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def l2_url(backend: str, request: pytest.FixtureRequest) -> str | None:
    """Redis for the shared tier on PostgreSQL; none (in process) on SQLite."""
    return str(request.getfixturevalue("redis_url")) if backend == "postgresql" else None


@pytest.fixture
async def factory(db: Database, l2_url: str | None) -> AsyncIterator[StrategyFactory]:
    rows = ScratchRows(db, 5)
    await rows.create()
    made = StrategyFactory(
        rows, redis_url=l2_url, prefix=new_prefix(), ttl=60, rng=random.Random(1)
    )
    try:
        yield made
    finally:
        await rows.drop()
        await made.clear()


@pytest.mark.parametrize("name", ["invalidate", "write-through", "two-tier", "refresh-ahead"])
async def test_a_read_after_a_write_returns_the_written_version(
    factory: StrategyFactory, name: str
) -> None:
    strategy = await factory.build(name)
    try:
        first = await strategy.read("r0")
        again = await strategy.read("r0")
        await strategy.write("r0", 1)
        after = await strategy.read("r0")
    finally:
        await strategy.close()
    assert first.value is not None and first.value.version == 0 and not first.hit
    assert again.hit
    assert after.value is not None and after.value.version == 1


async def test_ttl_only_serves_the_old_version_until_the_entry_expires(
    factory: StrategyFactory,
) -> None:
    strategy = await factory.build("ttl-only")
    try:
        await strategy.read("r0")
        await strategy.write("r0", 1)
        stale = await strategy.read("r0")
        await strategy.expire("r0")
        fresh = await strategy.read("r0")
    finally:
        await strategy.close()
    assert stale.value is not None and (stale.value.version, stale.hit) == (0, True)
    assert fresh.value is not None and fresh.value.version == 1
    assert (await factory.rows.versions())["r0"] == 1


@pytest.mark.parametrize("concurrency", [1, 8])
async def test_one_writer_leaves_no_stale_read_but_ttl_only(
    db: Database, l2_url: str | None, concurrency: int
) -> None:
    """Writes and reads on one row, at concurrency 1 (a strict sequence) and 8: every strategy
    that acts after commit serves no version older than the last completed write."""
    workload = Workload(
        keys=3,
        zipf=1.0,
        read_ratio=0.7,
        ops=300,
        concurrency=concurrency,
        ttl=60,
        seed=7,
        stampede_readers=0,
    )
    comparison = await compare_strategies(
        db, list(STRATEGY_NAMES), workload, redis_url=l2_url, prefix=new_prefix()
    )
    stale = {result.strategy: result.stale_reads for result in comparison.results}
    assert stale["ttl-only"] > 0
    assert [name for name, count in stale.items() if count and name != "ttl-only"] == []
    for result in comparison.results:
        assert result.reads + result.writes == 300
        assert result.max_staleness_ms > 0 if result.strategy == "ttl-only" else True


async def test_every_strategy_but_ttl_only_costs_one_load_when_the_hot_key_expires(
    db: Database, l2_url: str | None
) -> None:
    workload = Workload(keys=4, ops=20, concurrency=2, stampede_readers=200, seed=3)
    comparison = await compare_strategies(
        db, list(STRATEGY_NAMES), workload, redis_url=l2_url, prefix=new_prefix()
    )
    loads = {result.strategy: result.stampede_loads for result in comparison.results}
    assert {name: n for name, n in loads.items() if name != "ttl-only"} == {
        name: 1 for name in STRATEGY_NAMES if name != "ttl-only"
    }
    assert loads["ttl-only"] > 1
    if l2_url is None:  # in process nothing yields before the load: every reader misses
        assert loads["ttl-only"] == 200


async def test_write_behind_with_its_flusher_killed_loses_exactly_the_unflushed_writes(
    factory: StrategyFactory,
) -> None:
    rows = factory.rows
    strategy = WriteBehind(factory.backend(), rows, factory.space("wb"), 60, interval=3600)
    oracle = VersionOracle(await rows.versions())
    try:
        for ident, version in [("r0", 1), ("r1", 1)]:
            await strategy.write(ident, version)
            oracle.complete(ident, version, 0.0)
        await strategy.flush()
        for ident, version in [("r0", 2), ("r2", 1), ("r2", 2)]:
            await strategy.write(ident, version)
            oracle.complete(ident, version, 0.0)
        queued = await strategy.kill()
        served = await strategy.read("r2")
        await strategy.write("r3", 1)  # acknowledged after the crash: never flushed either
        oracle.complete("r3", 1, 0.0)
    finally:
        await strategy.close()
    committed = await rows.versions()
    assert queued == 2
    assert {ident: committed[ident] for ident in ("r0", "r1", "r2", "r3")} == {
        "r0": 1,
        "r1": 1,
        "r2": 0,
        "r3": 0,
    }
    assert oracle.lost(committed) == 4  # r0 v2, r2 v1, r2 v2, r3 v1
    assert served.value is not None and served.value.version == 2  # the cache still has it


async def test_write_behind_flushes_in_batches_and_loses_nothing_when_closed(
    factory: StrategyFactory,
) -> None:
    strategy = WriteBehind(factory.backend(), factory.rows, factory.space("wb"), 60, interval=3600)
    for version in range(1, 4):
        for ident in ("r0", "r1"):
            await strategy.write(ident, version)
    await strategy.close()
    committed = await factory.rows.versions()
    assert (committed["r0"], committed["r1"]) == (3, 3)
    assert strategy.flushed_batches == 1


async def test_write_through_never_lets_an_older_value_overwrite_a_newer_one(
    factory: StrategyFactory,
) -> None:
    """Two writers commit v1 then v2, and store in the opposite order."""
    strategy = WriteThrough(factory.backend(), factory.rows, factory.space("wt"), 60)
    try:
        first = await strategy.commit("r0", 1)
        second = await strategy.commit("r0", 2)
        assert await strategy.put(second) is True
        assert await strategy.put(first) is False
        served = await strategy.read("r0")
        await strategy.expire("r0")  # even once the entry is gone, v1 stays refused
        assert await strategy.put(first) is False
        refilled = await strategy.read("r0")
    finally:
        await strategy.close()
    assert served.value is not None and (served.value.version, served.hit) == (2, True)
    assert refilled.value is not None and refilled.value.version == 2
    assert (await factory.rows.versions())["r0"] == 2


async def test_a_load_that_began_before_a_write_through_does_not_overwrite_it(
    factory: StrategyFactory,
) -> None:
    strategy = WriteThrough(factory.backend(), factory.rows, factory.space("wt"), 60)
    try:
        old = await factory.rows.load("r0")  # a reader's load, before the write
        await strategy.write("r0", 1)
        assert old is not None
        assert await strategy.entries.put(old) is False
        served = await strategy.read("r0")
    finally:
        await strategy.close()
    assert served.value is not None and (served.value.version, served.hit) == (1, True)


class _Draw(random.Random):
    """A random source that always draws the same number."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


async def test_refresh_ahead_reloads_a_hot_key_once_just_before_it_expires(
    factory: StrategyFactory,
) -> None:
    clock = ManualClock()
    strategy = RefreshAhead(
        factory.backend(), factory.rows, factory.space("ra"), 60, rng=_Draw(0.5), clock=clock
    )
    try:
        await strategy.read("r0")  # stored to expire at clock + 60
        await strategy.write("r1", 1)  # unrelated
        clock.advance(30)
        early = await asyncio.gather(*(strategy.read("r0") for _ in range(50)))
        loads_far_from_expiry = factory.rows.loads
        clock.advance(30 - 1e-5)  # 10 µs before expiry: -delta * ln(0.5) reaches past it
        near = await asyncio.gather(*(strategy.read("r0") for _ in range(50)))
        loads_near_expiry = factory.rows.loads
        clock.advance(1e-5)
        later = await strategy.read("r0")  # the refreshed entry expires 60 s from the refresh
    finally:
        await strategy.close()
    assert all(read.hit for read in early) and loads_far_from_expiry == 1
    assert loads_near_expiry == 2 and strategy.early_refreshes == 1
    assert sum(not read.hit for read in near) == 1
    assert later.hit and factory.rows.loads == 2


class _HeldFirstFlush(ScratchRows):
    """Rows whose first batched write waits for ``release`` before it touches the table."""

    def __init__(self, rows: ScratchRows) -> None:
        super().__init__(rows.db, rows.count, name=rows.name)
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.first_batch: list[str] = []

    async def write_many(self, versions: Mapping[str, int]) -> None:
        if not self.entered.is_set():
            self.first_batch = sorted(versions)
            self.entered.set()
            await self.release.wait()
        await super().write_many(versions)


async def test_closing_write_behind_in_the_middle_of_a_batch_still_writes_that_batch(
    factory: StrategyFactory,
) -> None:
    rows = _HeldFirstFlush(factory.rows)
    strategy = WriteBehind(factory.backend(), rows, factory.space("wb"), 60, interval=0)
    await strategy.write("r0", 1)
    await strategy.write("r1", 1)
    await rows.entered.wait()
    closing = asyncio.create_task(strategy.close())
    rows.release.set()  # the close runs first and finds the batch in flight
    await closing
    committed = await factory.rows.versions()
    assert (committed["r0"], committed["r1"]) == (1, 1)


async def test_killing_write_behind_lets_the_batch_in_flight_finish_and_loses_the_rest(
    factory: StrategyFactory,
) -> None:
    """A kill never cancels a transaction half-way (on SQLite that would keep the file locked
    for every other writer): the batch being written commits, what is still queued is lost."""
    rows = _HeldFirstFlush(factory.rows)
    strategy = WriteBehind(factory.backend(), rows, factory.space("wb"), 60, interval=0)
    try:
        await strategy.write("r0", 1)
        await strategy.write("r1", 1)
        await rows.entered.wait()
        await strategy.write("r2", 1)  # queued behind the batch in flight
        killing = asyncio.create_task(strategy.kill())
        rows.release.set()  # the kill runs first and finds the batch in flight
        queued = await killing
        await factory.rows.write_many({"r3": 1})  # another writer is not locked out
    finally:
        await strategy.close()
    committed = await factory.rows.versions()
    in_flight = rows.first_batch  # r0, and r1 unless its cache write was still on its way
    assert in_flight[0] == "r0"
    assert queued == 3 - len(in_flight)
    assert {ident: committed[ident] for ident in ("r0", "r1", "r2", "r3")} == {
        "r0": 1,
        "r1": 1 if "r1" in in_flight else 0,
        "r2": 0,
        "r3": 1,
    }
