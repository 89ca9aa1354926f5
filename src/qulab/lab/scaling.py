"""Scaling out: the primary and its read replicas, measured for the lab's page.

Each scenario runs on the real layer with ``QULAB_DATABASE_REPLICA_URLS`` set (``NoReplicas``
otherwise): where every server is and how far behind (``replica_states``), the standbys' replay
paused and resumed (a superuser on the standby: the pair from ``qulab lab replica up`` is one),
a write read back by another request without and with its consistency token
(``read_your_writes``), and the cache invalidated while a standby is behind (``poisoned_cache``).

The two scenarios hold replay themselves while they read (``held_replay``: the standby is first
caught up with the lab user's previous write, so its lag stays small and it keeps serving reads),
and resume it afterwards; replay the learner paused stays paused. Reads "by another request"
run in a fresh context, which has written nothing (see ``qulab.core.consistency``).
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from qulab.core import Cache, Database, Token, last_commit_token
from qulab.lab.errors import NoReplicas
from qulab.lab.workload import VersionOracle
from qulab.platform import (
    UpdateUser,
    UserCreate,
    UserRepository,
    create_user,
    read_user_cached,
    uow_factory,
    update_user,
)

T = TypeVar("T")

LAB_EMAIL = "scaling-lab@example.com"
NAME_PREFIX = "Scaling lab v"
CATCH_UP_SECONDS = 5.0
POLL_SECONDS = 0.01
READERS = 8
START_COMMAND = "qulab lab replica up"

NEEDS = (
    "This needs PostgreSQL with at least one streaming standby: run `qulab lab replica up`, "
    "set the QULAB_DATABASE_URL and QULAB_DATABASE_REPLICA_URLS lines it prints, and start "
    "the lab again."
)

PAUSED = "SELECT pg_is_wal_replay_paused()"
PAUSE = "SELECT pg_wal_replay_pause()"
RESUME = "SELECT pg_wal_replay_resume()"
PRIMARY_POSITION = "SELECT pg_current_wal_lsn()::text"
READ_NAME = text("SELECT name, pg_is_in_recovery() FROM users WHERE id = :id")
VERSION = re.compile(re.escape(NAME_PREFIX) + r"(\d+)$")


@dataclass(frozen=True)
class ServerState:
    """One server as the page shows it: the primary's WAL position, or a standby's replay."""

    role: str  # "primary" or "replica"
    address: str
    healthy: bool
    position: str | None
    lag_seconds: float | None
    replay_paused: bool | None
    problem: str | None


@dataclass(frozen=True)
class ServedRead:
    """What one read saw and which server answered it."""

    server: str  # "primary" or "replica"
    name: str
    version: int
    stale: bool


@dataclass(frozen=True)
class ReadYourWrites:
    written: str
    token: str | None
    without_token: ServedRead
    with_token: ServedRead


@dataclass(frozen=True)
class PoisonedCache:
    """The cache invalidated while the standby is behind: what an unguarded fill would have
    stored (the standby's value) against what readers through the guarded cache got."""

    written: str
    floor: str | None
    standby_read: ServedRead
    readers: int
    outcomes: tuple[str, ...]
    stale_reads: int

    @property
    def unguarded_stale(self) -> bool:
        return self.standby_read.stale


def replicated(db: Database) -> bool:
    return db.replicas is not None and bool(db.replicas.replicas)


def _replicas(db: Database) -> Any:
    # ``Database.replicas`` (``qulab.core.replicas``) is reached through the database: the
    # class is not one of the core's public names, so it is not imported here.
    if db.replicas is None or not db.replicas.replicas:
        raise NoReplicas(NEEDS)
    return db.replicas


async def as_another_request(call: Callable[[], Awaitable[T]]) -> T:
    """``call`` in a context that has written nothing, as another request would make it."""

    async def run() -> T:
        return await call()

    return await asyncio.create_task(run(), context=contextvars.Context())


# -- the servers ---------------------------------------------------------------------------------


async def replica_states(db: Database) -> list[ServerState]:
    """The primary's WAL position and each standby's health, replay position, lag and whether
    its replay is paused, each read now."""
    replicas = _replicas(db)
    async with db.connect() as conn:
        position = str((await conn.exec_driver_sql(PRIMARY_POSITION)).scalar_one())
    states = [ServerState("primary", db.description, True, position, None, False, None)]
    for replica in replicas.replicas:
        await replicas.check(replica)
        states.append(
            ServerState(
                "replica",
                replica.address,
                replica.healthy,
                None if replica.position is None else str(replica.position),
                replica.lag,
                await _paused(replica),
                replica.problem,
            )
        )
    return states


async def _paused(replica: Any) -> bool | None:
    try:
        async with replica.engine.connect() as conn:
            return bool((await conn.exec_driver_sql(PAUSED)).scalar_one())
    except (SQLAlchemyError, OSError):
        return None


async def _run_on(replica: Any, statement: str) -> None:
    try:
        async with replica.engine.connect() as conn:
            await conn.exec_driver_sql(statement)
    except (SQLAlchemyError, OSError) as error:
        first = str(error).strip().splitlines()[0] if str(error) else type(error).__name__
        raise NoReplicas(
            f"The standby {replica.address} refused {statement!r} ({first[:200]}). Controlling "
            f"replay needs a superuser there: the pair from `{START_COMMAND}` connects as "
            "postgres."
        ) from error


async def _on_each(replicas: list[Any], statement: str) -> None:
    """``statement`` on every one of ``replicas``, even when one fails (the first failure is
    raised after)."""
    failed: NoReplicas | None = None
    for replica in replicas:
        try:
            await _run_on(replica, statement)
        except NoReplicas as error:
            failed = failed or error
    if failed is not None:
        raise failed


async def _on_standbys(db: Database, statement: str) -> None:
    await _on_each(list(_replicas(db).replicas), statement)


async def pause_replay(db: Database) -> None:
    """Every standby keeps receiving WAL but applies none of it until ``resume_replay``."""
    await _on_standbys(db, PAUSE)


async def resume_replay(db: Database) -> None:
    await _on_standbys(db, RESUME)


async def caught_up(db: Database, token: Token, seconds: float = CATCH_UP_SECONDS) -> bool:
    """Wait (bounded) until every standby has replayed ``token``; False when one has not."""
    replicas = _replicas(db)
    deadline = time.monotonic() + seconds
    while True:
        for replica in replicas.replicas:
            await replicas.check(replica)
        if all(r.position is not None and r.position >= token for r in replicas.replicas):
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_SECONDS)


@asynccontextmanager
async def held_replay(db: Database, token: Token | None) -> AsyncIterator[None]:
    """Replay held inside the block on every standby that was replaying, once they have
    replayed ``token``; resumed after on those, whatever happens. A standby already paused (or
    unreachable) is left as it is."""
    replicas = _replicas(db).replicas
    running = [replica for replica in replicas if await _paused(replica) is False]
    if running and token is not None:
        await caught_up(db, token)
    held: list[Any] = []
    try:
        for replica in running:
            await _run_on(replica, PAUSE)
            held.append(replica)
        yield
    finally:
        await _on_each(held, RESUME)


# -- the lab user and its versions -------------------------------------------------------------


def version_of(name: str) -> int:
    found = VERSION.match(name)
    return int(found.group(1)) if found else 0


async def lab_user(db: Database) -> tuple[str, int]:
    """The scenarios' own user (created the first time) and the version its name carries, read
    on the primary."""
    async with db.session() as session:
        user = await UserRepository(session).get_by_email(LAB_EMAIL)
        if user is not None:
            return user.id, version_of(user.name)
    created = await create_user(
        UserCreate(email=LAB_EMAIL, name=f"{NAME_PREFIX}1"), uow_factory(db)
    )
    return created.id, 1


async def _write(db: Database, user_id: str, version: int) -> tuple[str, Token | None]:
    name = f"{NAME_PREFIX}{version}"
    await update_user(UpdateUser(user_id=user_id, name=name), uow_factory(db))
    return name, last_commit_token()


async def _read(db: Database, user_id: str, token: Token | None, newest: int) -> ServedRead:
    async with db.reading(token=token) as session:
        name, in_recovery = (await session.execute(READ_NAME, {"id": user_id})).one()
    version = version_of(str(name))
    return ServedRead("replica" if in_recovery else "primary", str(name), version, version < newest)


async def _standby_read(db: Database, user_id: str, newest: int) -> ServedRead:
    replica = _replicas(db).replicas[0]
    async with replica.engine.connect() as conn:
        name = await conn.execute(text("SELECT name FROM users WHERE id = :id"), {"id": user_id})
        found = str(name.scalar_one())
    version = version_of(found)
    return ServedRead("replica", found, version, version < newest)


# -- the scenarios -------------------------------------------------------------------------------


async def read_your_writes(db: Database) -> ReadYourWrites:
    """Rename the lab user with replay held, then read it back as another request would: once
    with no token (the standby answers with what it has replayed) and once with the write's
    token (a standby that has replayed it, else the primary after QULAB_REPLICA_WAIT_MS)."""
    _replicas(db)
    user_id, version = await lab_user(db)
    _, before = await as_another_request(lambda: _write(db, user_id, version + 1))
    async with held_replay(db, before):
        name, token = await as_another_request(lambda: _write(db, user_id, version + 2))
        newest = version_of(name)
        without = await as_another_request(lambda: _read(db, user_id, None, newest))
        with_token = await as_another_request(lambda: _read(db, user_id, token, newest))
    return ReadYourWrites(name, None if token is None else str(token), without, with_token)


async def poisoned_cache(db: Database, cache: Cache, readers: int = READERS) -> PoisonedCache:
    """The cache's poisoning race, with replay held: the lab user is cached, renamed (the
    commit invalidates the entry and records its position as the fill floor), then read by
    ``readers`` requests through the cache. Each read is judged by the version oracle the
    strategy comparison uses; the standby is also read directly, which is what a fill without
    the guard would have stored."""
    _replicas(db)
    user_id, version = await lab_user(db)
    _, before = await as_another_request(lambda: _write(db, user_id, version + 1))
    oracle = VersionOracle({user_id: version + 1}, time.perf_counter())
    async with held_replay(db, before):
        await as_another_request(lambda: read_user_cached(db, cache, user_id))  # cached, old
        written = oracle.reserve(user_id)
        name, token = await as_another_request(lambda: _write(db, user_id, written))
        oracle.complete(user_id, written, time.perf_counter())
        newest = oracle.latest(user_id)
        standby = await as_another_request(lambda: _standby_read(db, user_id, newest))
        results = await asyncio.gather(
            *(
                as_another_request(lambda: read_user_cached(db, cache, user_id))
                for _ in range(readers)
            )
        )
    seen = [version_of(r.value.name) if r.value is not None else 0 for r in results]
    stale = sum(1 for returned in seen if returned < oracle.latest(user_id))
    return PoisonedCache(
        name,
        None if token is None else str(token),
        standby,
        readers,
        tuple(str(r.outcome) for r in results),
        stale,
    )
