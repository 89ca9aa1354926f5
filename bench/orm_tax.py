"""``orm_tax``: one user read by id, from the bare driver up to the ORM and a peer's repository.

Each rung reads a user the way a request does (a connection or session of its own per read),
cycling through the seeded users, all rungs interleaved round by round in one process:

- bare driver: ``fetchrow`` on a plain asyncpg connection (aiosqlite on SQLite); the floor;
- Core read model: ``read_models.read_user`` (one Core SELECT into ``UserRead``);
- ORM, read session: ``UserRepository.get_by_id`` in ``db.reading()`` (QuLab's read path);
- ORM, session: the same in ``db.session()`` (BEGIN and ROLLBACK around the SELECT);
- ORM, session, pre-ping on every checkout: what every read paid before idle pre-ping;
- advanced-alchemy: ``SQLAlchemyAsyncRepository.get`` in a session of its default engine
  (the peer; the `peers` extra; reported as not installed when it is missing).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from bench.databases import migrated, postgres_unavailable, postgres_url, sqlite_url
from bench.harness import BenchConfig, Report, Table, Target, benchmark
from qulab.core.db import Database
from qulab.lab.driver_floor import floor_reader
from qulab.lab.orm_tax import CORE, FLOOR, ORM, Contender, Ladder, interleave, qulab_contenders
from qulab.platform import views
from qulab.platform.models import User
from qulab.platform.repositories import UserRepository
from qulab.platform.services import seeding

USERS = 100
MARKER = "ormtax"
READS = 200
QUICK_READS = 5
SESSION = "orm_session"
PING_ALWAYS = "orm_session_ping"
PEER = "advanced_alchemy"
CORE_FLOOR_TARGET = 2.5
PEER_TARGET = 1.0


def _peer_repository() -> type[Any] | None:
    """advanced-alchemy's async repository for QuLab's User model, or None if not installed."""
    try:
        from advanced_alchemy.repository import SQLAlchemyAsyncRepository
    except ImportError:
        return None

    class UserPeerRepository(SQLAlchemyAsyncRepository[User]):  # type: ignore[misc,unused-ignore]
        model_type = User

    return UserPeerRepository


def _session_contender(db: Database, key: str, label: str) -> Contender:
    async def read(user_id: str) -> object:
        async with db.session() as session:
            return await UserRepository(session).get_by_id(user_id)

    return Contender(key, label, read)


@asynccontextmanager
async def _peer(url: str) -> AsyncIterator[Contender | None]:
    """The peer on its own default engine (as its docs set it up), disposed afterwards."""
    repository = _peer_repository()
    if repository is None:
        yield None
        return
    engine = create_async_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def read(user_id: str) -> object:
        async with sessions() as session:
            return await repository(session=session).get(user_id)

    try:
        yield Contender(PEER, "advanced-alchemy repository get", read)
    finally:
        await engine.dispose()


async def _ladder(url: str, config: BenchConfig) -> Ladder:
    async with AsyncExitStack() as stack:
        db = await stack.enter_async_context(migrated(url))
        pinging = await stack.enter_async_context(migrated(url, db_pre_ping_idle_seconds=0))
        await seeding.seed(db, 2 if config.quick else USERS, 0, marker=MARKER, rng_seed=5)
        ids = await views.user_ids(db, where=seeding.seeded_users(MARKER))
        floor = await stack.enter_async_context(floor_reader(db))
        peer = await stack.enter_async_context(_peer(url))
        contenders = [
            *qulab_contenders(db, floor),
            _session_contender(db, SESSION, "ORM entity, session in a transaction"),
            _session_contender(pinging, PING_ALWAYS, "ORM entity, transaction + pre-ping always"),
            *([peer] if peer is not None else []),
        ]
        reads = QUICK_READS if config.quick else READS
        rungs = await interleave(
            contenders, ids, rounds=config.rounds, reads=reads, warmup=config.warmup
        )
        return Ladder(db.description, config.rounds, reads, tuple(rungs))


def _table(title: str, ladder: Ladder, peer_missing: bool) -> Table:
    rows: list[list[Any]] = [
        [
            rung.label,
            rung.median_s * 1e6,
            f"{rung.spread:.0%}",
            f"{ladder.ratio(rung):.2f}x",
        ]
        for rung in ladder.rungs
    ]
    if peer_missing:
        rows.append(["advanced-alchemy repository get", "not installed", "-", "-"])
    return Table(title, ["rung", "µs per read (median)", "spread", "ratio to floor"], rows)


_CORE_LIMITS = {
    "PostgreSQL": "a pool checkout and return (about 130 µs of CPU here) and SQLAlchemy's "
    "execution through its greenlet bridge (about 240 µs more than the driver's own fetchrow) "
    "are per read; the local round trip is short, so that CPU time is most of a read, and a busy "
    "2-core machine multiplies it",
    "SQLite": "aiosqlite runs every call on its worker thread; the pooled read adds hops (the "
    "cursor, the rollback on return) to the floor's one, and a busy 2-core machine schedules "
    "each hop late",
}


def _targets(name: str, ladder: Ladder) -> list[Target]:
    core = ladder.rung(CORE)
    targets = [
        Target(
            f"{name}: Core read model / bare driver",
            ladder.ratio(core),
            CORE_FLOOR_TARGET,
            higher_is_better=False,
            limits=_CORE_LIMITS[name],
        )
    ]
    if any(rung.key == PEER for rung in ladder.rungs):
        targets.append(
            Target(
                f"{name}: UserRepository.get_by_id (read session) / advanced-alchemy get",
                ladder.ratio(ladder.rung(ORM), ladder.rung(PEER)),
                PEER_TARGET,
                higher_is_better=False,
                limits="both build an ORM entity in a session per read over the same driver; "
                "on SQLite every aiosqlite call is a hop to its worker thread, which the busy "
                "machine's scheduler prices, so the gap is within the spread",
            )
        )
    return targets


async def _measure(
    report: Report, name: str, open_url: Callable[[], Any], config: BenchConfig
) -> None:
    async with open_url() as url:
        ladder = await _ladder(url, config)
    peer_missing = _peer_repository() is None
    report.tables.append(
        _table(f"{name}: one user by id, {ladder.reads} reads", ladder, peer_missing)
    )
    report.targets += _targets(name, ladder)
    report.raw[name] = {
        rung.key: {"per_read_s": list(rung.per_read_s), "ratio_to_floor": ladder.ratio(rung)}
        for rung in ladder.rungs
    }


@benchmark("orm_tax", "The ORM tax: one read by id, driver to ORM")
async def orm_tax(config: BenchConfig) -> Report:
    report = Report(name="orm_tax", title="The ORM tax: one read by id, driver to ORM")
    reason = await postgres_unavailable(config)
    if reason is None:
        await _measure(
            report, "PostgreSQL", lambda: postgres_url(config, "qulab_bench_orm"), config
        )
    else:
        report.notes.append(f"PostgreSQL not measured: {reason}")
    await _measure(report, "SQLite", lambda: sqlite_url(config), config)
    if _peer_repository() is None:
        report.notes.append(
            "advanced-alchemy: not installed (pip install -e '.[peers]' to compare with it)"
        )
    report.notes += [
        f"Rounds interleave the rungs (their order rotating); each figure is the median over the "
        f"rounds of the mean time of one read in a round, {FLOOR!r} is the floor.",
        "Every rung but the floor checks a connection out of a warm pool per read; the floor "
        "keeps one connection open.",
        "QuLab pre-pings a connection only when it sat idle longer than "
        "QULAB_DB_PRE_PING_IDLE_SECONDS (1 s); back-to-back reads are never pinged. The "
        "'pre-ping always' rung sets it to 0 (SQLAlchemy's pool_pre_ping on every checkout).",
    ]
    return report
