"""Grade an outbox design by running a fixed workload on it, beside QuLab's own design.

The table is created in a scratch schema on PostgreSQL (``qulab_design_<hex>``, dropped at the
end) or in a scratch SQLite file (removed at the end). The workload: a history of published
events (so that the planner prefers an index when there is one; statistics are gathered), two
producers writing events for their aggregates one transaction each, a third relay that claims a
batch and is killed with its transaction open, and two relays claiming, publishing and marking
side by side. The grade: the claim's plan (index or full scan), throughput, events lost, events
published twice, order inversions within a relay's stream, whether a relay sat blocked behind
the killed relay's locks, and the table's size per row.

On SQLite the lock options do nothing (SQLAlchemy leaves ``FOR UPDATE`` out): the relays take
SQLite's single write lock when they begin (``BEGIN IMMEDIATE``), so writers run one at a time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event, func, insert, literal_column, select, text, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.schema import CreateSchema, DropSchema

from qulab.core import Database
from qulab.lab.event_table_design import REFERENCE, Design, build_table, claim_statement

log = logging.getLogger(__name__)

HISTORY_ROWS = 20_000
AGGREGATES = 16
EVENTS_PER_AGGREGATE = 20
BACKLOG_PER_AGGREGATE = 6
PUBLISH_SECONDS = 0.003
STALL_LIMIT_S = 10.0
DRAIN_LIMIT_S = 60.0
SQLITE_BUSY_MS = 30_000


@dataclass(frozen=True)
class Grade:
    """What the workload measured on one design."""

    database: str
    design: Design
    plan: str
    index_used: bool
    produced: int
    published: int
    lost: int
    duplicates: int
    inversions: int
    blocked: bool | None
    seconds: float
    table_bytes: int
    table_rows: int

    @property
    def throughput(self) -> float:
        return self.published / self.seconds if self.seconds else 0.0

    @property
    def bytes_per_row(self) -> float:
        return self.table_bytes / self.table_rows if self.table_rows else 0.0

    def problems(self) -> list[str]:
        """One line per thing that went wrong, empty for a sound design."""
        found = []
        if not self.index_used:
            found.append("the claim scans the whole table: no index serves it")
        if self.lost:
            found.append(f"{self.lost} events were never published")
        if self.duplicates:
            found.append(f"{self.duplicates} events were published twice: nothing stops two relays")
        if self.inversions:
            found.append(f"{self.inversions} events of an aggregate overtook an earlier one")
        if self.blocked:
            found.append("a relay sat blocked behind the killed relay's locked rows")
        return found


@dataclass(frozen=True)
class Comparison:
    """A learner's grade beside the reference design's, measured the same way."""

    design: Grade
    reference: Grade


@dataclass
class _Run:
    table: Table
    design: Design
    engine: AsyncEngine
    sqlite: bool
    produced: dict[str, tuple[str, int]] = field(default_factory=dict)
    streams: dict[str, list[str]] = field(default_factory=dict)
    relay_pids: set[int] = field(default_factory=set)
    stalled_pid: int | None = None
    claims: int = 0
    done_producing: asyncio.Event = field(default_factory=asyncio.Event)


async def grade(db: Database, design: Design) -> Grade:
    """Run the workload on ``design`` in a scratch schema or file and grade it."""
    async with _scratch(db) as (engine, schema):
        table = build_table(design, schema)
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.create_all)
        run = _Run(table, design, engine, engine.dialect.name == "sqlite")
        await _seed_history(run)
        await _produce_backlog(run)
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
        plan, index_used = await _explain(run)
        started = time.perf_counter()
        blocked = await _race(run)
        seconds = time.perf_counter() - started
        size, rows = await _size(run)
    published = [event_id for stream in run.streams.values() for event_id in stream]
    distinct = set(published)
    return Grade(
        database=db.description,
        design=design,
        plan=plan,
        index_used=index_used,
        produced=len(run.produced),
        published=len(distinct),
        lost=len(set(run.produced) - distinct),
        duplicates=len(published) - len(distinct),
        inversions=_inversions(run),
        blocked=None if run.sqlite else blocked,
        seconds=seconds,
        table_bytes=size,
        table_rows=rows,
    )


async def grade_beside_reference(db: Database, design: Design) -> Comparison:
    """The design's grade and the reference's, one after the other on the same database."""
    return Comparison(await grade(db, design), await grade(db, REFERENCE))


@asynccontextmanager
async def _scratch(db: Database) -> AsyncIterator[tuple[AsyncEngine, str | None]]:
    if db.dialect == "sqlite":
        with tempfile.TemporaryDirectory(prefix="qulab_design_") as folder:
            log.info("scratch design file in %s", folder)
            url = f"sqlite+aiosqlite:///{Path(folder) / 'design.db'}"
            engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_MS / 1000})
            _immediate_transactions(engine)
            try:
                yield engine, None
            finally:
                await engine.dispose()
        return
    schema = f"qulab_design_{secrets.token_hex(6)}"
    base: URL = make_url(db.engine.url)
    engine = create_async_engine(base, pool_size=8, max_overflow=4)
    try:
        async with engine.begin() as conn:
            await conn.execute(CreateSchema(schema))
        log.info("scratch design schema %s", schema)
        try:
            yield engine, schema
        finally:
            async with engine.begin() as conn:
                await conn.execute(DropSchema(schema, cascade=True, if_exists=True))
    finally:
        await engine.dispose()


def _immediate_transactions(engine: AsyncEngine) -> None:
    """Every transaction on the scratch SQLite file takes the write lock when it begins."""

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _payload(run: _Run, aggregate: str, number: int) -> Any:
    body = {"aggregate": aggregate, "n": number, "note": "x" * 40}
    return body if run.design.type_of("payload") == "json" else json.dumps(body)


def _row(run: _Run, aggregate: str, number: int, status: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "aggregate_id": aggregate,
        "payload": _payload(run, aggregate, number),
        "status": status,
    }
    if "event_type" in run.design.column_names:
        row["event_type"] = "design.event"
    return row


def _insert(run: _Run) -> Any:
    statement = insert(run.table)
    if run.sqlite and run.design.type_of("sequence") == "bigint identity":
        next_sequence = select(func.coalesce(func.max(run.table.c.sequence), 0) + 1)
        statement = statement.values(sequence=next_sequence.scalar_subquery())
    return statement


async def _seed_history(run: _Run) -> None:
    """Published events from before: what a table that has served a while holds."""
    rows = [
        _row(run, f"old-{index % 500:03d}", index, "published") for index in range(HISTORY_ROWS)
    ]
    statement = insert(run.table)
    if run.sqlite and run.design.type_of("sequence") == "bigint identity":
        for number, row in enumerate(rows, start=1):
            row["sequence"] = number
    async with run.engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            await conn.execute(statement, rows[start : start + 5000])


def _aggregates() -> list[str]:
    return [str(uuid.UUID(int=index + 1)) for index in range(AGGREGATES)]


async def _write(run: _Run, conn: AsyncConnection, aggregate: str, number: int) -> None:
    row = _row(run, aggregate, number, "pending")
    await conn.execute(_insert(run), row)
    run.produced[row["id"]] = (aggregate, number)


async def _produce_backlog(run: _Run) -> None:
    """The first events of every aggregate, waiting when the relays start."""
    for number in range(BACKLOG_PER_AGGREGATE):
        for aggregate in _aggregates():
            async with run.engine.begin() as conn:
                await _write(run, conn, aggregate, number)


async def _producer(run: _Run, aggregates: list[str]) -> None:
    for number in range(BACKLOG_PER_AGGREGATE, EVENTS_PER_AGGREGATE):
        for aggregate in aggregates:
            async with run.engine.begin() as conn:
                await _write(run, conn, aggregate, number)
            await asyncio.sleep(0)


async def _explain(run: _Run) -> tuple[str, bool]:
    """The claim's plan, and whether it reads an index rather than the whole table."""
    statement = claim_statement(run.design, run.table)
    compiled = str(
        statement.compile(dialect=run.engine.dialect, compile_kwargs={"literal_binds": True})
    )
    async with run.engine.connect() as conn:
        if run.sqlite:
            rows = (await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")).all()
            lines = [str(row[-1]) for row in rows]
            used = any("USING" in line and "INDEX" in line for line in lines)
        else:
            rows = (await conn.exec_driver_sql(f"EXPLAIN {compiled}")).all()
            lines = [str(row[0]) for row in rows]
            used = any("Index" in line and "Scan" in line for line in lines) and not any(
                "Seq Scan" in line for line in lines
            )
        await conn.rollback()
    return "\n".join(lines), used


async def _claim(run: _Run, conn: AsyncConnection) -> list[str]:
    rows = (await conn.execute(claim_statement(run.design, run.table))).all()
    run.claims += 1
    return [str(row.id) for row in rows]


async def _mark(run: _Run, conn: AsyncConnection, ids: list[str]) -> None:
    values: dict[str, Any] = {"status": "published"}
    if "published_at" in run.design.column_names:
        values["published_at"] = func.now()
    await conn.execute(update(run.table).where(run.table.c.id.in_(ids)).values(**values))


async def _relay(run: _Run, name: str, go: asyncio.Event) -> None:
    """Claim, publish (a broker round trip), mark; until production is over and none pend."""
    stream = run.streams.setdefault(name, [])
    async with run.engine.connect() as conn:
        if not run.sqlite:
            pid = (await conn.execute(select(func.pg_backend_pid()))).scalar_one()
            run.relay_pids.add(int(pid))
            await conn.commit()
        await go.wait()
        while True:
            async with conn.begin():
                ids = await _claim(run, conn)
                if ids:
                    await asyncio.sleep(PUBLISH_SECONDS)
                    stream.extend(ids)
                    await _mark(run, conn, ids)
            if not ids:
                if run.done_producing.is_set() and await _pending(run) == 0:
                    return
                await asyncio.sleep(PUBLISH_SECONDS)


async def _stalled_relay(run: _Run, claimed: asyncio.Event) -> None:
    """A relay that claims a batch and hangs with its transaction open until it is killed."""
    async with run.engine.connect() as conn, conn.begin():
        if not run.sqlite:
            pid = (await conn.execute(select(func.pg_backend_pid()))).scalar_one()
            run.stalled_pid = int(pid)
        await conn.execute(claim_statement(run.design, run.table))
        claimed.set()
        await asyncio.Event().wait()


async def _pending(run: _Run) -> int:
    async with run.engine.connect() as conn:
        statement = select(func.count()).where(run.table.c.status == literal_column("'pending'"))
        found = int((await conn.execute(statement)).scalar_one())
        await conn.rollback()
    return found


async def _lock_waiters(run: _Run) -> int:
    """How many live relays wait for a lock the stalled relay holds."""
    async with run.engine.connect() as conn:
        statement = text(
            "SELECT count(*) FROM unnest(CAST(:pids AS integer[])) AS waiting(pid) "
            "WHERE CAST(:stalled AS integer) = ANY(pg_blocking_pids(waiting.pid))"
        ).bindparams(pids=sorted(run.relay_pids), stalled=run.stalled_pid)
        found = int((await conn.execute(statement)).scalar_one())
        await conn.rollback()
    return found


async def _race(run: _Run) -> bool:
    """Producers and two relays, a third relay killed mid-run; True if a relay was blocked."""
    claimed = asyncio.Event()
    go = asyncio.Event()
    blocked = False
    stalled: asyncio.Task[None] | None = asyncio.create_task(_stalled_relay(run, claimed))
    await claimed.wait()
    if run.sqlite and stalled is not None:
        # It holds SQLite's only write lock: killed at once, before it held up every writer.
        stalled.cancel()
        await asyncio.gather(stalled, return_exceptions=True)
        stalled = None
    relays = [asyncio.create_task(_relay(run, f"relay-{n}", go)) for n in (1, 2)]
    aggregates = _aggregates()
    producers = [asyncio.create_task(_producer(run, aggregates[p::2])) for p in (0, 1)]
    go.set()
    try:
        if stalled is not None:
            blocked = await _watch_for_block(run, relays)
            stalled.cancel()
            await asyncio.gather(stalled, return_exceptions=True)
        await asyncio.gather(*producers)
        run.done_producing.set()
        await asyncio.wait_for(asyncio.gather(*relays), DRAIN_LIMIT_S)
    finally:
        for task in [*relays, *producers]:
            task.cancel()
        await asyncio.gather(*relays, *producers, return_exceptions=True)
    return blocked


async def _watch_for_block(run: _Run, relays: list[asyncio.Task[None]]) -> bool:
    """Wait until a live relay has finished a claim while the stalled one holds its rows (not
    blocked) or one of them waits on a row lock (blocked)."""
    deadline = time.monotonic() + STALL_LIMIT_S
    while time.monotonic() < deadline:
        if await _lock_waiters(run):
            return True
        if run.claims > 0:
            return False
        if all(task.done() for task in relays):
            return False
        await asyncio.sleep(0.01)
    return await _lock_waiters(run) > 0


def _inversions(run: _Run) -> int:
    """Events a relay published after a later event of the same aggregate it had published."""
    count = 0
    for stream in run.streams.values():
        newest: dict[str, int] = {}
        for event_id in stream:
            aggregate, number = run.produced.get(event_id, ("", -1))
            if not aggregate:
                continue
            if number < newest.get(aggregate, -1):
                count += 1
            newest[aggregate] = max(number, newest.get(aggregate, -1))
    return count


async def _size(run: _Run) -> tuple[int, int]:
    async with run.engine.connect() as conn:
        rows = int((await conn.execute(select(func.count()).select_from(run.table))).scalar_one())
        if run.sqlite:
            pages = (await conn.exec_driver_sql("PRAGMA page_count")).scalar_one()
            page_size = (await conn.exec_driver_sql("PRAGMA page_size")).scalar_one()
            size = int(pages) * int(page_size)
        else:
            name = f"{run.table.schema}.{run.table.name}"
            size = int(
                (
                    await conn.execute(select(func.pg_total_relation_size(func.to_regclass(name))))
                ).scalar_one()
            )
        await conn.rollback()
    return size, rows
