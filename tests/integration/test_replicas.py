"""Reads go to a healthy standby, writes and a unit's reads to the primary; a standby that is
down or lagging is skipped with one log line; a read given a commit's token sees that commit."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from prometheus_client import generate_latest
from sqlalchemy import text

from qulab.core.bootstrap import Runtime
from qulab.core.consistency import Token
from qulab.core.db import Database, count_statements
from qulab.core.metrics import Metrics
from qulab.lab.private_postgres import PrivateCluster, free_port
from qulab.platform import views
from qulab.platform.models import User
from qulab.platform.schemas import UpdateUser, UserCreate
from qulab.platform.services.users import create_user
from qulab.platform.uow import PlatformUnitOfWork, uow_factory
from tests import services
from tests.replica_support import (
    caught_up,
    received,
    replay_paused,
    replica_runtime,
    replica_settings,
    replicated_database,
)
from tests.tcp_proxy import TcpProxy
from tests.waiting import eventually

__all__ = ["replicated_database"]  # the fixture, used by name

T = TypeVar("T")
IN_RECOVERY = text("SELECT pg_is_in_recovery()")


async def in_a_fresh_context(call: Callable[[], Awaitable[T]]) -> T:
    """Run ``call`` as another request would: in a context that has written nothing."""

    async def run() -> T:
        return await call()

    return await asyncio.create_task(run(), context=contextvars.Context())


async def session_on_standby(db: Database, token: Token | str | None = None) -> bool:
    async with db.reading(token=token) as session:
        return bool((await session.execute(IN_RECOVERY)).scalar_one())


async def connection_on_standby(db: Database) -> bool:
    async with db.read_connection() as conn:
        return bool((await conn.execute(IN_RECOVERY)).scalar_one())


async def test_reads_go_to_the_standby_and_a_units_reads_to_the_primary(
    replicated_postgres: PrivateCluster, replicated_database: str
) -> None:
    settings = replica_settings(replicated_postgres, replicated_database)
    async with replica_runtime(settings) as rt:
        assert await session_on_standby(rt.db) is True
        assert await connection_on_standby(rt.db) is True
        async with PlatformUnitOfWork(rt.db) as work:
            assert (await work.session.execute(IN_RECOVERY)).scalar_one() is False
            # A read-side view called while the unit is open reads the primary too.
            assert await session_on_standby(rt.db) is False
            assert await connection_on_standby(rt.db) is False
        assert await session_on_standby(rt.db) is True


async def test_a_standby_is_checked_once_per_interval_not_once_per_read(
    replicated_postgres: PrivateCluster, replicated_database: str
) -> None:
    settings = replica_settings(
        replicated_postgres, replicated_database, replica_check_interval=3600
    )
    async with replica_runtime(settings) as rt:
        assert rt.db.replicas is not None
        [replica] = rt.db.replicas.replicas
        with count_statements(replica.base) as on_standby:
            for _ in range(10):
                assert await session_on_standby(rt.db) is True
        checks = [s for s in on_standby.statements if "pg_last_wal_replay_lsn" in s]
        assert len(checks) == 1
        assert on_standby.count == 11  # the check and the ten reads
        assert rt.db.replicas.served == 10


async def test_without_replicas_nothing_of_them_is_built_and_a_token_changes_nothing(
    replicated_postgres: PrivateCluster, replicated_database: str
) -> None:
    settings = replica_settings(replicated_postgres, replicated_database).replace(
        database_replica_urls=""
    )
    async with replica_runtime(settings) as rt:
        assert rt.db.replicas is None
        user = await create_user(UserCreate(email=_email(), name="Ada"), uow_factory(rt.db))
        assert await session_on_standby(rt.db, token="0/1") is False
        with rt.db.count_statements() as counter:
            async with PlatformUnitOfWork(rt.db) as work:
                await work.users.update(user.id, UpdateUser(user_id=user.id, name="Ada B"))
                await work.commit()
                assert work.token is None
        # The update, the outbox row... and no statement for a token.
        assert not any("wal" in statement.lower() for statement in counter.statements)


async def test_a_standby_that_is_down_is_skipped_with_one_log_line_and_no_error(
    replicated_postgres: PrivateCluster,
    replicated_database: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = f"postgresql+asyncpg://postgres:s3cret@127.0.0.1:{free_port()}/{replicated_database}"
    settings = replica_settings(replicated_postgres, replicated_database, down)
    caplog.set_level(logging.INFO, logger="qulab.core.replicas")
    async with replica_runtime(settings) as rt:
        user = await create_user(UserCreate(email=_email(), name="Down"), uow_factory(rt.db))
        for _ in range(3):
            assert await session_on_standby(rt.db) is False
            assert await connection_on_standby(rt.db) is False
            assert user.id in [u.id for u in await views.list_users(rt.db, limit=1000)]
        assert rt.db.replicas is not None
        [status] = rt.db.replicas.status()
        assert status.healthy is False and "unreachable" in (status.problem or "")
        metrics = Metrics()
        metrics.watch(db=rt.db)
        exposition = generate_latest(metrics.registry).decode()
        assert f'qulab_db_replica_healthy{{replica="{status.address}"}} 0.0' in exposition
        assert "qulab_db_replica_fallbacks_total 9.0" in exposition  # 3 rounds of 3 reads
        assert "qulab_db_replica_reads_total 0.0" in exposition
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 1, lines
    assert "skipped, its reads go to the primary" in lines[0]
    assert "postgres:***@127.0.0.1" in lines[0] and "s3cret" not in caplog.text


async def test_a_standby_gone_between_checks_fails_no_core_read(
    replicated_postgres: PrivateCluster,
    replicated_database: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    standby = replicated_postgres.standbys[0]
    proxy = await TcpProxy("127.0.0.1", standby.port).start()
    through = f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/{replicated_database}"
    settings = replica_settings(
        replicated_postgres,
        replicated_database,
        through,
        replica_check_interval=3600,
        db_pre_ping_idle_seconds=0,  # a pooled connection the proxy cut is noticed at checkout
    )
    caplog.set_level(logging.INFO, logger="qulab.core.replicas")
    try:
        async with replica_runtime(settings) as rt:
            assert await connection_on_standby(rt.db) is True
            proxy.cut()
            assert await connection_on_standby(rt.db) is False  # no error: the primary answered
            assert await connection_on_standby(rt.db) is False
            assert rt.db.replicas is not None
            assert (rt.db.replicas.served, rt.db.replicas.fallbacks) == (1, 2)
    finally:
        await proxy.close()
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 1 and "unreachable" in lines[0], lines


async def test_a_standby_gone_between_checks_fails_no_session_read(
    replicated_postgres: PrivateCluster,
    replicated_database: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    standby = replicated_postgres.standbys[0]
    proxy = await TcpProxy("127.0.0.1", standby.port).start()
    through = f"postgresql+asyncpg://postgres:s3cret@127.0.0.1:{proxy.port}/{replicated_database}"
    settings = replica_settings(
        replicated_postgres,
        replicated_database,
        through,
        replica_check_interval=3600,
        db_pre_ping_idle_seconds=0,  # a pooled connection the proxy cut is noticed at checkout
    )
    caplog.set_level(logging.INFO, logger="qulab.core.replicas")
    try:
        async with replica_runtime(settings) as rt:
            user = await create_user(UserCreate(email=_email(), name="Cut"), uow_factory(rt.db))
            await caught_up(replicated_postgres)
            assert await session_on_standby(rt.db) is True
            proxy.cut()
            for _ in range(2):  # no error: the primary serves the ORM reads
                async with rt.db.reading() as session:
                    assert (await session.execute(IN_RECOVERY)).scalar_one() is False
                    found = await session.get(User, user.id)
                    assert found is not None and found.name == "Cut"
            assert rt.db.replicas is not None
            assert (rt.db.replicas.served, rt.db.replicas.fallbacks) == (1, 2)
            [status] = rt.db.replicas.status()
            assert status.healthy is False and "unreachable" in (status.problem or "")
            metrics = Metrics()
            metrics.watch(db=rt.db)
            exposition = generate_latest(metrics.registry).decode()
            assert "qulab_db_replica_fallbacks_total 2.0" in exposition
    finally:
        await proxy.close()
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 1 and "unreachable" in lines[0], lines
    assert "postgres:***@127.0.0.1" in lines[0] and "s3cret" not in caplog.text


async def test_a_healthy_standby_session_costs_no_extra_statement(
    replicated_postgres: PrivateCluster, replicated_database: str
) -> None:
    settings = replica_settings(
        replicated_postgres, replicated_database, replica_check_interval=3600
    )
    async with replica_runtime(settings) as rt:
        assert await session_on_standby(rt.db) is True  # the health check is behind us
        assert rt.db.replicas is not None
        [replica] = rt.db.replicas.replicas
        with count_statements(replica.base) as on_standby, rt.db.count_statements() as primary:
            assert await session_on_standby(rt.db) is True
        assert on_standby.statements == ["SELECT pg_is_in_recovery()"]
        assert primary.count == 0


async def test_a_standby_lagging_past_the_limit_is_skipped_until_it_catches_up(
    replicated_postgres: PrivateCluster,
    replicated_database: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Checks only when the test asks (the interval is long), and any lag at all is too much.
    settings = replica_settings(
        replicated_postgres,
        replicated_database,
        replica_max_lag=0.001,
        replica_wait_ms=0,
        replica_check_interval=3600,
    )
    caplog.set_level(logging.INFO, logger="qulab.core.replicas")
    async with replica_runtime(settings) as rt:
        replicas = rt.db.replicas
        assert replicas is not None
        [replica] = replicas.replicas

        async def checked_healthy() -> bool:
            await caught_up(replicated_postgres)
            await replicas.check(replica)
            return replica.healthy

        await eventually(checked_healthy, "the standby to be caught up at a check")
        assert await session_on_standby(rt.db) is True
        before = len(caplog.records)
        async with replay_paused(replicated_postgres):
            user = await create_user(UserCreate(email=_email(), name="Lag"), uow_factory(rt.db))
            await received(replicated_postgres, await _primary_position(rt))
            await replicas.check(replica)
            assert replica.healthy is False and "lagging" in (replica.problem or "")
            assert await in_a_fresh_context(lambda: session_on_standby(rt.db)) is False
            found = await in_a_fresh_context(lambda: views.get_user(rt.db, user.id))
            assert found.id == user.id  # the primary answered: the standby has not replayed it
        await eventually(checked_healthy, "the standby to be caught up after replay resumed")
        assert await in_a_fresh_context(lambda: session_on_standby(rt.db)) is True
    lines = [record.getMessage() for record in caplog.records][before:]
    assert "skipped" in lines[0] and "lagging" in lines[0], lines
    assert "is back" in lines[-1], lines


async def test_a_read_with_the_commits_token_sees_the_write_and_one_without_does_not(
    replicated_postgres: PrivateCluster, replicated_database: str
) -> None:
    settings = replica_settings(replicated_postgres, replicated_database)
    await caught_up(replicated_postgres)
    async with replica_runtime(settings) as rt:
        user = await create_user(UserCreate(email=_email(), name="Before"), uow_factory(rt.db))
        await caught_up(replicated_postgres)
        async with replay_paused(replicated_postgres):
            async with PlatformUnitOfWork(rt.db) as work:
                await work.users.update(user.id, UpdateUser(user_id=user.id, name="After"))
                await work.commit()
            token = work.token
            assert token is not None
            await received(replicated_postgres, str(token))

            async def name_read(token: Token | str | None = None) -> tuple[str, bool]:
                async with rt.db.reading(token=token) as session:
                    on_standby = (await session.execute(IN_RECOVERY)).scalar_one()
                    row = await session.execute(
                        text("SELECT name FROM users WHERE id = :id"), {"id": user.id}
                    )
                    return str(row.scalar_one()), bool(on_standby)

            # Another request without the token: the standby answers, with the old name.
            assert await in_a_fresh_context(name_read) == ("Before", True)
            # The same request carrying the token (as a web session would, as text): the
            # standby has not replayed it within QULAB_REPLICA_WAIT_MS, so the primary answers.
            assert await in_a_fresh_context(lambda: name_read(str(token))) == ("After", False)
            # The writer's own context needs no token: its commit is remembered.
            assert await name_read() == ("After", False)
        await caught_up(replicated_postgres)
        # Once replayed, the token is served by the standby.
        assert await in_a_fresh_context(lambda: name_read(token)) == ("After", True)


async def _primary_position(rt: Runtime) -> str:
    async with rt.db.connect() as conn:
        return str(
            (await conn.exec_driver_sql("SELECT pg_current_wal_insert_lsn()::text")).scalar()
        )


def _email() -> str:
    return f"{services.unique_name('replica')}@example.com"
