"""``qulab user delete`` racing ``qulab score add``: each ends with one clear line, no traceback."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest
from sqlalchemy import func, select, text

from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.core.models import DomainEvent
from qulab.platform import migrate
from qulab.platform.airscore import ScoringInputs
from qulab.platform.models import AIRScore, User
from qulab.platform.repositories import UserRepository
from qulab.platform.services import scoring
from qulab.platform.uow import PlatformUnitOfWork
from tests.cli.conftest import Invoke
from tests.service_calls import create_user, delete_user
from tests.waiting import eventually


async def _prepare(url: str) -> str:
    db = Database(Settings().replace(database_url=url))
    try:
        await migrate.upgrade(db)
        return (await create_user(db, email="raced@example.com", name="Raced")).id
    finally:
        await db.dispose()


async def _rows(url: str, model: type) -> int:
    db = Database(Settings().replace(database_url=url))
    try:
        async with db.session() as session:
            statement = select(func.count()).select_from(model)
            return int((await session.execute(statement)).scalar_one())
    finally:
        await db.dispose()


async def _event_types(url: str) -> list[str]:
    db = Database(Settings().replace(database_url=url))
    try:
        async with db.session() as session:
            result = await session.execute(
                select(DomainEvent.event_type).order_by(DomainEvent.sequence)
            )
            return list(result.scalars())
    finally:
        await db.dispose()


def test_delete_prints_the_id_and_records_a_user_deleted_event(
    qulab: Invoke, database_url: str
) -> None:
    user_id = asyncio.run(_prepare(database_url))
    deleted = qulab("user", "delete", user_id, "--yes")
    assert (deleted.code, deleted.out, deleted.err) == (0, f"deleted {user_id}\n", "")
    assert asyncio.run(_event_types(database_url)) == ["user.created", "user.deleted"]
    again = qulab("user", "delete", user_id, "--yes")
    assert (again.code, again.err) == (2, f"error: user {user_id} not found\n")


async def _refer_to(url: str, user_id: str) -> None:
    """A table of the test's own that refers to the user without cascading."""
    db = Database(Settings().replace(database_url=url))
    try:
        async with db.engine.begin() as conn:
            await conn.execute(
                text(
                    "CREATE TABLE user_notes (id INTEGER PRIMARY KEY,"
                    " user_id VARCHAR(36) NOT NULL REFERENCES users (id))"
                )
            )
            await conn.execute(text("INSERT INTO user_notes VALUES (1, :id)"), {"id": user_id})
    finally:
        await db.dispose()


def test_a_delete_another_row_blocks_exits_2_with_one_line(
    qulab: Invoke, database_url: str
) -> None:
    user_id = asyncio.run(_prepare(database_url))
    asyncio.run(_refer_to(database_url, user_id))
    result = qulab("user", "delete", user_id, "--yes")
    assert (result.code, result.out) == (2, "")
    prefix = f"error: user {user_id} could not be deleted: other rows still refer to it ("
    assert result.err.startswith(prefix) and result.err.endswith(")\n")
    assert len(result.err.splitlines()) == 1
    assert asyncio.run(_rows(database_url, User)) == 1
    assert asyncio.run(_event_types(database_url)) == ["user.created"]


def test_a_score_for_a_user_deleted_meanwhile_exits_2_with_one_line(
    qulab: Invoke, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user disappears between the scorer's read and its insert, on the second score."""
    user_id = asyncio.run(_prepare(database_url))
    read = scoring._inputs_for
    calls = 0

    async def read_then_delete_on_the_second(uow: PlatformUnitOfWork, user: str) -> ScoringInputs:
        nonlocal calls
        calls += 1
        inputs = await read(uow, user)
        if calls == 2:
            await delete_user(uow.db, user)
        return inputs

    monkeypatch.setattr(scoring, "_inputs_for", read_then_delete_on_the_second)
    result = qulab("score", "add", user_id, "--count", "5")
    assert (result.code, result.out, result.err) == (2, "", f"error: user {user_id} not found\n")
    assert calls == 2
    assert asyncio.run(_rows(database_url, AIRScore)) == 0
    assert asyncio.run(_rows(database_url, User)) == 0


def test_an_update_of_a_user_deleted_meanwhile_exits_2_with_one_line(
    qulab: Invoke, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id = asyncio.run(_prepare(database_url))
    read = UserRepository.get

    async def read_then_delete(self: UserRepository, user: str) -> User:
        found = await read(self, user)
        other = Database(Settings().replace(database_url=database_url))
        try:
            await delete_user(other, user)
        finally:
            await other.dispose()
        return found

    monkeypatch.setattr(UserRepository, "get", read_then_delete)
    result = qulab("user", "update", user_id, "--name", "Renamed")
    assert (result.code, result.out, result.err) == (2, "", f"error: user {user_id} not found\n")
    assert asyncio.run(_event_types(database_url)) == ["user.created", "user.deleted"]


def _environment(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QULAB_")}
    return env | {"QULAB_DATABASE_URL": url, "COLUMNS": "200"}


async def _qulab(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "qulab",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _finish(process: asyncio.subprocess.Process, seconds: float) -> tuple[int, str, str]:
    try:
        async with asyncio.timeout(seconds):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return int(process.returncode or 0), out.decode(), err.decode()


async def test_user_delete_while_score_add_runs_both_exit_cleanly(database_url: str) -> None:
    """The reported race, as a user runs it: two ``qulab`` processes on one database."""
    user_id = await _prepare(database_url)
    env = _environment(database_url)
    scorer = await _qulab(env, "score", "add", user_id, "--count", "20000")
    try:

        async def scores_added() -> bool:
            if await _rows(database_url, AIRScore) >= 20:
                return True
            assert scorer.returncode is None, "score add ended before the delete"
            return False

        await eventually(scores_added, "score add to write 20 scores", timeout=60, interval=0.1)
        deleted = await _finish(await _qulab(env, "user", "delete", user_id, "--yes"), 60)
        assert deleted == (0, f"deleted {user_id}\n", "")
        scored = await _finish(scorer, 60)
    finally:
        if scorer.returncode is None:
            scorer.kill()
            await scorer.wait()
    assert (scored[0], scored[2]) == (2, f"error: user {user_id} not found\n")
    assert await _rows(database_url, User) == 0
    assert await _rows(database_url, AIRScore) == 0
    assert (await _event_types(database_url)).count("user.deleted") == 1
