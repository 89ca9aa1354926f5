"""The platform's unit of work: the core's transaction with the AI-R repositories on it."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from qulab.core.db import Database
from qulab.core.uow import UnitOfWork
from qulab.platform.repositories import AssessmentRepository, ScoreRepository, UserRepository


class PlatformUnitOfWork(UnitOfWork):
    """One transaction over users, scores and assessments, with the outbox beside them."""

    users: UserRepository
    scores: ScoreRepository
    assessments: AssessmentRepository

    def open_repositories(self, session: AsyncSession) -> None:
        self.users = UserRepository(session)
        self.scores = ScoreRepository(session)
        self.assessments = AssessmentRepository(session)


UnitOfWorkFactory = Callable[[], PlatformUnitOfWork]
"""What a platform service takes: a zero-argument callable returning a fresh, unentered unit
of work. Services open one unit per call; tests pass a factory of fakes."""


def uow_factory(db: Database) -> UnitOfWorkFactory:
    """The factory of real units of work on ``db``."""
    return lambda: PlatformUnitOfWork(db)
