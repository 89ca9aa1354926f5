"""The chaos check's replica option: reads through the cache from standbys with replay lag, and
callers that wrote checking that a read with their token sees their write.

The standbys are the configured ones (``QULAB_DATABASE_REPLICA_URLS``, standbys of
``QULAB_DATABASE_URL``) or a private primary with standbys started for the run
(``qulab.lab.private_postgres``) and removed after it. The scratch database is read on them
under its own name. While events are written, reader tasks read users through the cache as
requests would (a context that wrote nothing: the standbys serve them), replay is paused on a
standby for moments at random (and resumed, whatever happens), and after every rename the writer
reads the user back twice: through the cache in its own context (its commit's token is
remembered there) and in another context with the token given explicitly. A read that does not
show the new name is a stale read after a write, and fails the check.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.engine import make_url

from qulab.core import (
    ConfigurationError,
    Database,
    QulabError,
    Runtime,
    Settings,
    Token,
    last_commit_token,
    open_database,
)
from qulab.lab.private_postgres import start_primary
from qulab.platform import UserRepository, read_user_cached

log = logging.getLogger(__name__)

T = TypeVar("T")
READERS = 3
CHECK_INTERVAL = 0.1  # the run's standbys are asked where they stand this often
MAX_LAG = 60.0  # a paused standby stays a standby to read from: tokens must keep reads honest


@dataclass
class ReplicaReads:
    """What the replica option saw; ``stale`` must be 0."""

    replicas: int
    reads_after_write: int = 0  # token holders' reads of their own write
    stale: int = 0
    cache_reads: int = 0  # the reader tasks' reads through the cache
    served: int = 0  # reads the standbys served
    fallbacks: int = 0  # reads meant for a standby that the primary served
    pauses: int = 0  # moments replay was paused on a standby
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Standbys:
    """Where the run's database lives (``settings``) and its standbys' URLs for ``database``."""

    settings: Settings
    urls: tuple[str, ...]

    def for_database(self, database_url: str) -> tuple[str, ...]:
        name = make_url(database_url).database
        return tuple(
            make_url(url).set(database=name).render_as_string(hide_password=False)
            for url in self.urls
        )


@contextlib.asynccontextmanager
async def standbys(settings: Settings, count: int) -> AsyncIterator[Standbys]:
    """``count`` standbys: the first configured ones, else a private primary with ``count``
    standbys of its own for the run (removed afterwards)."""
    configured = settings.database.replica_urls
    if configured:
        if settings.database.is_sqlite:
            raise ConfigurationError(
                "QULAB_DATABASE_REPLICA_URLS are standbys of a PostgreSQL primary, and "
                "QULAB_DATABASE_URL is SQLite"
            )
        if len(configured) < count:
            raise ConfigurationError(
                f"--replicas {count}: QULAB_DATABASE_REPLICA_URLS names only {len(configured)}"
            )
        yield Standbys(settings.replace(database_replica_urls=""), tuple(configured[:count]))
        return
    cluster = await asyncio.to_thread(start_primary)
    try:
        for _ in range(count):
            await asyncio.to_thread(cluster.add_standby)
        primary = settings.replace(database_url=cluster.primary.url(), database_replica_urls="")
        yield Standbys(primary, tuple(server.url() for server in cluster.standbys))
    finally:
        await asyncio.to_thread(cluster.remove)


def replica_settings(settings: Settings, database_url: str, urls: Sequence[str]) -> Settings:
    """The writer's and readers' settings: the standbys checked often, lag tolerated, an
    in-process cache of the run's own."""
    return settings.replace(
        database_url=database_url,
        database_replica_urls=",".join(urls),
        replica_check_interval=CHECK_INTERVAL,
        replica_max_lag=MAX_LAG,
        redis_url=None,
        broker_url="memory://",
    )


async def fresh(call: Callable[[], Awaitable[T]]) -> T:
    """``call`` as another request makes it: in a context that has written nothing."""

    async def run() -> T:
        return await call()

    return await asyncio.create_task(run(), context=contextvars.Context())


class ReplicaChaos:
    """The readers, the replay pauses and the token holders' checks of one run."""

    def __init__(self, runtime: Runtime, standby_urls: Sequence[str], rng: random.Random) -> None:
        self.runtime = runtime
        self.standby_urls = list(standby_urls)
        self.rng = rng
        self.found = ReplicaReads(len(standby_urls))
        self.live: list[str] = []  # the writer's users, which the readers read
        self.stop = asyncio.Event()

    async def check_own_write(self, user_id: str, name: str) -> None:
        """The writer reads its write back: through the cache in its own context, and with
        its token in another context. Each read that misses the new name is stale."""
        db, cache = self.runtime.db, self.runtime.cache
        token = last_commit_token()
        cached = (await read_user_cached(db, cache, user_id)).value
        self._judge("through the cache", user_id, name, None if cached is None else cached.name)
        if token is not None:
            shown = await fresh(lambda: _name_with_token(db, user_id, token))
            self._judge(f"with token {token}", user_id, name, shown)

    def _judge(self, how: str, user_id: str, name: str, shown: str | None) -> None:
        self.found.reads_after_write += 1
        if shown != name:
            self.found.stale += 1
            if len(self.found.problems) < 5:
                self.found.problems.append(
                    f"stale read after a write ({how}): user {user_id} showed {shown!r}, "
                    f"not {name!r}"
                )

    async def read(self) -> None:
        """One reader: users through the cache, each read in a context of its own."""
        db, cache = self.runtime.db, self.runtime.cache
        while not self.stop.is_set():
            if self.live:
                user_id = self.rng.choice(self.live)
                await fresh(functools.partial(read_user_cached, db, cache, user_id))
                self.found.cache_reads += 1
            await asyncio.sleep(0.005)

    async def lag(self) -> None:
        """Pause replay on a standby for moments at random; every standby resumes at the end."""
        servers = [_server(self.runtime.settings, url) for url in self.standby_urls]
        try:
            while not self.stop.is_set():
                await _sleep_unless(self.stop, self.rng.uniform(0.1, 0.5))
                server = self.rng.choice(servers)
                if not await _replay(server, "pause", self.found):
                    return
                self.found.pauses += 1
                await _sleep_unless(self.stop, self.rng.uniform(0.1, 0.4))
                await _replay(server, "resume", self.found)
        finally:
            for server in servers:
                with contextlib.suppress(QulabError):
                    await _replay(server, "resume", self.found)
                await server.dispose()

    def tasks(self) -> list[Coroutine[Any, Any, None]]:
        return [self.lag(), *(self.read() for _ in range(READERS))]

    def finish(self) -> ReplicaReads:
        replicas = self.runtime.db.replicas
        if replicas is not None:
            self.found.served, self.found.fallbacks = replicas.served, replicas.fallbacks
        return self.found


async def _name_with_token(db: Database, user_id: str, token: Token) -> str | None:
    async with db.reading(token=str(token)) as session:
        user = await UserRepository(session).get_one_or_none(user_id)
        return None if user is None else user.name


def _server(settings: Settings, url: str) -> Database:
    return open_database(
        settings.replace(database_url=url, database_replica_urls=""), null_pool=True
    )


async def _replay(server: Database, action: str, found: ReplicaReads) -> bool:
    """``pg_wal_replay_pause()`` or ``_resume()`` on a standby; False (noted once) when the
    standby refuses (a role without the right to pause replay)."""
    try:
        async with server.connect() as conn:
            await conn.exec_driver_sql(f"SELECT pg_wal_replay_{action}()")
    except QulabError as error:
        note = f"replay could not be paused, lag is only what it is: {error}"
        if action == "pause" and note not in found.problems:
            found.problems.append(note)
        log.debug("replay %s failed on %s: %s", action, server.description, error)
        return False
    return True


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
