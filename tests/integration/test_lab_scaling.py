"""The lab's scaling-out scenarios on a real primary and standby: the lag each server shows,
replay paused and resumed, a write read back stale without its token and fresh with it, and the
cache invalidated while the standby is behind serving no reader the old name."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from qulab.core import Token, last_commit_token
from qulab.core.bootstrap import Runtime
from qulab.core.config import Settings
from qulab.lab import scaling
from qulab.lab.errors import NoReplicas
from qulab.lab.private_postgres import PrivateCluster
from qulab.platform import UpdateUser, uow_factory, update_user
from qulab.platform.application import bootstrap
from tests import services
from tests.replica_support import (
    caught_up,
    received,
    replay_paused,
    replica_runtime,
    replica_settings,
    replicated_database,
)

__all__ = ["replicated_database"]  # the fixture, used by name


@pytest.fixture
async def runtime(
    replicated_postgres: PrivateCluster, replicated_database: str
) -> AsyncIterator[Runtime]:
    settings = replica_settings(replicated_postgres, replicated_database)
    async with replica_runtime(settings) as rt:
        yield rt


async def test_the_servers_show_the_primary_position_and_the_standby_s_lag(
    replicated_postgres: PrivateCluster, runtime: Runtime
) -> None:
    await caught_up(replicated_postgres)
    primary, standby = await scaling.replica_states(runtime.db)
    assert (primary.role, standby.role) == ("primary", "replica")
    assert primary.position is not None and standby.position is not None
    assert standby.healthy is True and standby.lag_seconds == 0.0
    assert standby.replay_paused is False
    assert str(replicated_postgres.standbys[0].port) in standby.address


async def test_paused_replay_leaves_the_standby_behind_the_primary_until_resumed(
    replicated_postgres: PrivateCluster, runtime: Runtime
) -> None:
    db = runtime.db
    user_id, _ = await scaling.lab_user(db)
    await caught_up(replicated_postgres)
    try:
        await scaling.pause_replay(db)
        await update_user(UpdateUser(user_id=user_id, name="Paused"), uow_factory(db))
        await received(replicated_postgres, str(last_commit_token()))
        primary, standby = await scaling.replica_states(db)
        assert standby.replay_paused is True
        assert Token.parse(str(standby.position)) < Token.parse(str(primary.position))
        assert standby.lag_seconds is not None and standby.lag_seconds > 0
    finally:
        await scaling.resume_replay(db)
    await caught_up(replicated_postgres)
    primary, standby = await scaling.replica_states(db)
    assert standby.replay_paused is False and standby.lag_seconds == 0.0


async def test_a_write_read_back_is_stale_without_its_token_and_fresh_with_it(
    replicated_postgres: PrivateCluster, runtime: Runtime
) -> None:
    result = await scaling.read_your_writes(runtime.db)
    assert result.token is not None
    newest = scaling.version_of(result.written)
    assert result.without_token.server == "replica"
    assert result.without_token.stale is True
    assert result.without_token.version == newest - 1
    assert result.with_token.name == result.written
    assert result.with_token.stale is False
    assert result.with_token.server == "primary"  # the standby could not replay it: held
    assert (await scaling.replica_states(runtime.db))[1].replay_paused is False  # resumed


async def test_replay_the_learner_paused_stays_paused_after_a_scenario(
    replicated_postgres: PrivateCluster, runtime: Runtime
) -> None:
    await scaling.lab_user(runtime.db)
    await caught_up(replicated_postgres)
    async with replay_paused(replicated_postgres):
        result = await scaling.read_your_writes(runtime.db)
        assert result.without_token.stale is True and result.with_token.stale is False
        assert (await scaling.replica_states(runtime.db))[1].replay_paused is True


async def test_the_guarded_cache_serves_no_reader_the_old_value_while_the_standby_is_behind(
    replicated_postgres: PrivateCluster, runtime: Runtime
) -> None:
    result = await scaling.poisoned_cache(runtime.db, runtime.cache, readers=6)
    assert result.standby_read.stale is True  # what an unguarded fill would have cached
    assert result.unguarded_stale is True
    assert result.readers == 6 and len(result.outcomes) == 6
    assert result.stale_reads == 0
    assert "MISS" in result.outcomes
    assert (await scaling.replica_states(runtime.db))[1].replay_paused is False


async def test_a_standby_login_without_the_right_to_pause_is_refused_with_what_it_needs(
    replicated_postgres: PrivateCluster, replicated_database: str
) -> None:
    role = services.unique_name("qulab_reader")
    await _primary_sql(replicated_postgres, f'CREATE ROLE "{role}" LOGIN')
    try:
        await caught_up(replicated_postgres)  # the role exists on the standby too
        standby = replicated_postgres.standbys[0].url(replicated_database)
        reader = standby.replace("//postgres@", f"//{role}@")
        settings = replica_settings(replicated_postgres, replicated_database, reader)
        async with replica_runtime(settings) as rt:
            with pytest.raises(NoReplicas, match="needs a superuser there"):
                await scaling.pause_replay(rt.db)
            with pytest.raises(NoReplicas, match="permission denied"):
                await scaling.read_your_writes(rt.db)
            assert (await scaling.replica_states(rt.db))[1].replay_paused is False
    finally:
        await _primary_sql(replicated_postgres, f'DROP ROLE IF EXISTS "{role}"')


async def _primary_sql(cluster: PrivateCluster, statement: str) -> None:
    conn = await asyncpg.connect(cluster.primary.dsn(), timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def test_without_replicas_the_scenarios_say_what_they_need(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'lab.db'}"
    async with bootstrap(Settings().replace(database_url=url)) as rt:
        assert scaling.replicated(rt.db) is False
        with pytest.raises(NoReplicas, match="qulab lab replica up"):
            await scaling.replica_states(rt.db)
        with pytest.raises(NoReplicas, match="QULAB_DATABASE_REPLICA_URLS"):
            await scaling.read_your_writes(rt.db)
