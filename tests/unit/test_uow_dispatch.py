"""The unit of work and the bus with fakes (no database): what runs, in which order, and what a
rollback or a failing handler does to the commit."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, cast

import pytest

from qulab.core.bus import MessageBus
from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.core.uow import UnitOfWork
from qulab.platform.events import Event, UserDeleted, UserUpdated


class FakeSession:
    """Records what the unit of work asks of its session, in one journal."""

    def __init__(self, journal: list[str]) -> None:
        self.journal = journal
        self.added: list[Any] = []

    def add(self, row: Any) -> None:
        self.added.append(row)

    async def execute(self, statement: Any, params: Any = None) -> None:
        self.journal.append(f"execute {' '.join(str(statement).split()[:1])}")

    async def flush(self) -> None:
        self.journal.append("flush")

    async def commit(self) -> None:
        self.journal.append("commit")

    async def rollback(self) -> None:
        self.journal.append("rollback")

    async def close(self) -> None:
        self.journal.append("close")

    async def __aexit__(self, *exc_info: object) -> None:
        """Leaving the session closes it, as AsyncSession's exit does."""
        await self.close()


class FakeDatabase:
    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.settings = Settings().replace(database_url="sqlite+aiosqlite:///:memory:")
        self.bus = MessageBus()
        self.journal: list[str] = []
        self.sessions: list[FakeSession] = []

    def session(self) -> FakeSession:
        session = FakeSession(self.journal)
        self.sessions.append(session)
        return session


def _fake(dialect: str = "sqlite") -> tuple[FakeDatabase, Database]:
    fake = FakeDatabase(dialect)
    return fake, cast(Database, fake)


def _journaling(fake: FakeDatabase, name: str) -> Any:
    async def handler(events: Sequence[Event]) -> None:
        fake.journal.append(f"{name} {[e.event_type for e in events]}")

    return handler


async def test_commit_writes_the_rows_then_commits_then_runs_handlers_in_order() -> None:
    fake, db = _fake("postgresql")
    fake.bus.subscribe(Event, _journaling(fake, "first"))
    fake.bus.subscribe(UserDeleted, _journaling(fake, "second"))
    async with UnitOfWork(db) as uow:
        uow.record(UserUpdated("u-1", {"name": "N"}))
        uow.record(UserDeleted("u-1", "a@example.com", "A"))
        await uow.commit()

    assert [row.event_type for row in fake.sessions[0].added] == ["user.updated", "user.deleted"]
    assert fake.journal == [
        "flush",
        "execute SELECT",  # pg_notify, inside the transaction
        "commit",
        "first ['user.updated', 'user.deleted']",
        "second ['user.deleted']",
        "close",
    ]


async def test_sqlite_commits_without_notify() -> None:
    fake, db = _fake("sqlite")
    async with UnitOfWork(db) as uow:
        uow.record(UserUpdated("u-1", {"name": "N"}))
        await uow.commit()
    assert fake.journal == ["flush", "commit", "close"]


async def test_a_failing_handler_is_logged_and_the_commit_is_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake, db = _fake()

    async def broken(events: Sequence[Event]) -> None:
        raise RuntimeError("handler exploded")

    fake.bus.subscribe(Event, broken)
    fake.bus.subscribe(Event, _journaling(fake, "after"))
    with caplog.at_level(logging.ERROR, logger="qulab.core.bus"):
        async with UnitOfWork(db) as uow:
            uow.record(UserUpdated("u-1", {"name": "N"}))
            await uow.commit()

    assert uow.committed
    assert fake.journal == ["flush", "commit", "after ['user.updated']", "close"]
    assert "rollback" not in fake.journal
    assert any("the commit stands" in r.getMessage() for r in caplog.records)


async def test_handlers_never_run_after_a_rollback() -> None:
    fake, db = _fake()
    fake.bus.subscribe(Event, _journaling(fake, "handler"))
    with pytest.raises(RuntimeError, match="abandon"):
        async with UnitOfWork(db) as uow:
            uow.record(UserUpdated("u-1", {"name": "N"}))
            raise RuntimeError("abandon")
    async with UnitOfWork(db) as uow:
        uow.record(UserUpdated("u-2", {"name": "M"}))
        await uow.rollback()

    assert fake.journal == ["rollback", "close", "rollback", "rollback", "close"]
    assert (uow.recorded, uow.rows) == ([], [])
