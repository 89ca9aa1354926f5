"""Shared fixtures. ``db`` is parametrized: every data-layer test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Generator, Iterable, Iterator, Mapping
from pathlib import Path

import pytest
from sqlalchemy import Table, text

from qulab.core import QulabError
from qulab.core.bootstrap import Runtime
from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.lab import migrate
from qulab.lab.models import LabBase
from qulab.lab.private_postgres import PrivateCluster, binaries, start_primary
from qulab.platform.application import bootstrap
from qulab.platform.models import METADATA
from tests import services
from tests.cache_support import RedisServer
from tests.redis_cluster import RedisCluster

# -- the services a test needs, as marks ------------------------------------------------------
#
# A test needs a service when it uses the service's fixture, directly or through others, or
# when a fixture that picks a service by its parameter runs with a parameter naming one
# (backend="postgresql", cache_kind="redis", stack="postgresql+redis"): such a fixture asks
# for the service with request.getfixturevalue, which collection cannot see. A parameter that
# brings a second service says so itself, with pytest.param(..., marks=...). After its run, a
# test is held to its marks: it used every service it is marked for, and no other.

SERVICE_FIXTURES = {
    "postgres_url": "postgres",
    "redis_url": "redis",
    "redis_server": "redis",
    "redis_cluster": "redis",
    "logical_postgres": "postgres",
    "replicated_postgres": "postgres",
    "postgres_programs": "postgres",
    "amqp_url": "rabbitmq",
    "nats_url": "nats",
    "chromium": "browser",
}
SERVICE_CHOOSERS = {"backend", "lab_url", "cache_kind", "cache", "watched", "broker", "stack"}
SERVICE_NAMES = {"postgresql": "postgres", "redis": "redis", "rabbitmq": "rabbitmq", "nats": "nats"}
SERVICE_MARKS = frozenset(SERVICE_FIXTURES.values())

_CALL_PASSED = pytest.StashKey[bool]()


def used_services(fixturenames: Iterable[str]) -> set[str]:
    return {SERVICE_FIXTURES[name] for name in fixturenames if name in SERVICE_FIXTURES}


def chosen_services(params: Mapping[str, object]) -> set[str]:
    names = [str(params[name]).split("+") for name in SERVICE_CHOOSERS if name in params]
    return {SERVICE_NAMES[name] for each in names for name in each if name in SERVICE_NAMES}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        needed = used_services(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        if callspec is not None:
            needed |= chosen_services(callspec.params)
        for service in sorted(needed):
            item.add_marker(service)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item,
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_CALL_PASSED] = report.passed
    return report


@pytest.fixture(autouse=True)
def _marks_match_the_services_used(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    used = used_services(request.fixturenames)  # with those asked for while it ran
    marked = {mark.name for mark in request.node.iter_markers() if mark.name in SERVICE_MARKS}
    if used - marked:
        pytest.fail(
            f"used {sorted(used - marked)} unmarked: see SERVICE_FIXTURES in tests/conftest.py"
        )
    if marked - used and request.node.stash.get(_CALL_PASSED, False):
        pytest.fail(f"marked {sorted(marked - used)} but did not use it")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL server's maintenance database (tests create databases of their own)."""
    services.require_postgres()
    return services.POSTGRES_URL


@pytest.fixture
def redis_url() -> str:
    """The shared Redis server (tests keep to keys under prefixes of their own)."""
    services.require_redis()
    return services.REDIS_URL


@pytest.fixture
def amqp_url() -> str:
    """The RabbitMQ server (tests declare exchanges and queues of their own)."""
    services.require_rabbitmq()
    return services.AMQP_URL


@pytest.fixture
def nats_url() -> str:
    """The NATS server with JetStream (tests create streams of their own)."""
    services.require_nats()
    return services.NATS_URL


@pytest.fixture
def chromium() -> Path:
    """The Chromium binary the browser tests drive."""
    if not services.CHROMIUM.exists():
        services.unavailable(
            "Chromium", f"{services.CHROMIUM} is missing (apt-get install chromium)"
        )
    return services.CHROMIUM


@pytest.fixture(scope="session")
def pg_database_url(postgres_url: str) -> Iterator[str]:
    """A PostgreSQL database of this test run, migrated to head (the platform's schema and the
    lab's), dropped at the end."""
    url = services.create_pg_database()

    async def _migrate() -> None:
        async with bootstrap(Settings().replace(database_url=url)) as rt:
            await migrate.upgrade(rt.db)

    try:
        asyncio.run(_migrate())
        yield url
    finally:
        services.drop_pg_database(url)


@pytest.fixture
def fresh_pg_url(postgres_url: str) -> Iterator[str]:
    """An empty PostgreSQL database for one test (no schema), dropped afterwards."""
    url = services.create_pg_database("qulab_test_empty")
    try:
        yield url
    finally:
        services.drop_pg_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    if backend == "postgresql":
        url = request.getfixturevalue("pg_database_url")
        return Settings().replace(database_url=url, pool_size=10, max_overflow=20)
    return Settings().replace(database_url=f"sqlite+aiosqlite:///{tmp_path / 'qulab.db'}")


def _tables() -> list[Table]:
    every = (*METADATA, LabBase.metadata)
    return [table for metadata in every for table in metadata.sorted_tables]


async def _empty_tables(db: Database) -> None:
    async with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            names = ", ".join(t.name for t in _tables())
            await conn.execute(text(f"TRUNCATE {names} CASCADE"))
        else:
            for table in reversed(_tables()):
                await conn.execute(table.delete())


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """QuLab built by ``bootstrap`` on a migrated, empty database of the parametrized backend
    (in-process cache, memory broker unless the test's settings say otherwise)."""
    rt = bootstrap(settings)
    database = rt.db
    if database.dialect == "sqlite":
        await migrate.upgrade(database)
    else:
        await _empty_tables(database)
    try:
        yield rt
    finally:
        try:
            if database.dialect == "postgresql":
                await _empty_tables(database)
        finally:
            await rt.close()


@pytest.fixture
def db(runtime: Runtime) -> Database:
    """A migrated, empty database on the parametrized backend (the runtime's)."""
    return runtime.db


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server on a spare port, for outage tests (stopped afterwards)."""
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """A private Redis Cluster (three masters, a replica each), started once per test session
    and removed afterwards. A test that kills a node starts it again (it rejoins as a replica)
    and waits until the cluster is whole before it ends."""
    cluster = RedisCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def _private_cluster(settings: Mapping[str, str], standbys: int) -> Iterator[PrivateCluster]:
    try:
        cluster = start_primary(settings)
    except QulabError as error:
        services.unavailable("a private PostgreSQL", str(error))
    try:
        for _ in range(standbys):
            cluster.add_standby()
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture(scope="session")
def postgres_programs() -> Path:
    """The directory of PostgreSQL's server programs (initdb, pg_ctl, pg_basebackup), for a
    test that starts servers of its own through a command."""
    try:
        return binaries()
    except QulabError as error:
        services.unavailable("PostgreSQL's server programs", str(error))
        raise


@pytest.fixture(scope="session")
def logical_postgres() -> Iterator[PrivateCluster]:
    """A private PostgreSQL primary with ``wal_level=logical`` (for the log-tailing relay),
    started once per test session and removed afterwards; tests create databases of their own."""
    yield from _private_cluster({"wal_level": "logical"}, standbys=0)


@pytest.fixture(scope="session")
def replicated_postgres() -> Iterator[PrivateCluster]:
    """A private PostgreSQL primary and one streaming standby, started once per test session
    and removed afterwards; tests create databases of their own (on the primary)."""
    yield from _private_cluster({}, standbys=1)


@pytest.fixture(scope="session")
def two_standby_postgres() -> Iterator[PrivateCluster]:
    """A private PostgreSQL primary and two streaming standbys (the replicas benchmark reads
    through one and two of them), started once per test session and removed afterwards."""
    yield from _private_cluster({}, standbys=2)
