"""The unit of work: owns one session and its transaction.

It rolls back unless ``commit()`` was called, writes the domain events collected during the work
in the same transaction as the change, and runs after-commit hooks (cache invalidation) only once
the commit has succeeded.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from types import TracebackType
from typing import Any, Self

from sqlalchemy.ext.asyncio import AsyncSession

from qulab.db import Database, translate_operational_error
from qulab.models import DomainEvent, EventType, new_id
from qulab.outbox.notify import notify_outbox
from qulab.outbox.repository import OutboxRepository
from qulab.repositories import (
    AssessmentRepository,
    ScoreRepository,
    UserRepository,
)

log = logging.getLogger(__name__)

Hook = Callable[[], Awaitable[None] | None]


class UnitOfWork:
    session: AsyncSession
    users: UserRepository
    scores: ScoreRepository
    assessments: AssessmentRepository
    events: OutboxRepository

    def __init__(self, db: Database) -> None:
        self.db = db
        self._after_commit: list[Hook] = []
        self._before_commit: list[Callable[[AsyncSession], Awaitable[None]]] = []
        self.collected: list[DomainEvent] = []
        self.changed_users: set[str] = set()
        self.committed = False

    async def __aenter__(self) -> Self:
        self.session = self.db.session()
        self.users = UserRepository(self.session)
        self.scores = ScoreRepository(self.session)
        self.assessments = AssessmentRepository(self.session)
        self.events = OutboxRepository(self.session)
        if self.db.dialect == "postgresql":
            self.before_commit(self._notify_relays)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self.committed:
                await self.session.rollback()
        finally:
            await self.session.close()
        if exc is not None:
            translated = translate_operational_error(exc)
            if translated is not exc:
                raise translated from exc

    def emit(
        self,
        event_type: EventType | str,
        aggregate_type: str,
        aggregate_id: str,
        payload: dict[str, Any],
    ) -> DomainEvent:
        """Record a domain event; it is written in this unit's transaction, or not at all."""
        event = DomainEvent(
            id=new_id(),
            event_type=str(event_type),
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            payload=payload,
        )
        self.session.add(event)
        self.collected.append(event)
        return event

    def mark_user_changed(self, user_id: str) -> None:
        """Note that a user or their scores changed. After the commit, the database's commit
        listeners (cache invalidation) are told; after a rollback, nobody is."""
        self.changed_users.add(user_id)

    def before_commit(self, hook: Callable[[AsyncSession], Awaitable[None]]) -> None:
        """Run ``hook(session)`` inside the transaction, just before it commits."""
        self._before_commit.append(hook)

    def after_commit(self, hook: Hook) -> None:
        """Run ``hook`` once the transaction has committed; never on rollback."""
        self._after_commit.append(hook)

    async def _notify_relays(self, session: AsyncSession) -> None:
        """Wake listening relays when this transaction wrote events (NOTIFY fires on commit)."""
        if self.collected:
            await notify_outbox(session, self.db.settings.outbox_channel)

    async def commit(self) -> None:
        await self.session.flush()
        for before in self._before_commit:
            await before(self.session)
        await self.session.commit()
        self.committed = True
        hooks, self._after_commit = self._after_commit, []
        hooks += [partial(listener, self) for listener in self.db.commit_listeners]
        for hook in hooks:
            try:
                result = hook()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("after-commit hook failed; the commit itself stands")

    async def rollback(self) -> None:
        await self.session.rollback()
        self._after_commit.clear()
        self.collected.clear()
        self.changed_users.clear()
