"""The platform's unit of work: the core's transaction with the AI-R repositories on it, and
``Work``, what a service needs of a unit (the real one and the service tests' fake are both).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncSession

from qulab.core.db import Database
from qulab.core.events import Event
from qulab.core.uow import UnitOfWork
from qulab.platform.models import AIRScore, Assessment, User
from qulab.platform.repositories import AssessmentRepository, ScoreRepository, UserRepository
from qulab.platform.schemas import UserCreate, UserUpdate


class Users(Protocol):
    async def get(self, user_id: str, /) -> User: ...
    async def add(self, user: User | UserCreate, /) -> User: ...
    async def update(self, user_id: str, changes: UserUpdate, /) -> User: ...
    async def delete(self, user_id: str, /) -> User: ...


class Scores(Protocol):
    async def add(self, score: AIRScore, /) -> AIRScore: ...


class Assessments(Protocol):
    async def get(self, assessment_id: str, /) -> Assessment: ...
    async def add(self, user_id: str, component: str, /) -> Assessment: ...
    async def list(self, user_id: str, /) -> Sequence[Assessment]: ...
    async def complete(self, assessment_id: str, ability: float, items: int, /) -> Assessment: ...


@runtime_checkable
class Work(Protocol):
    """What a platform service uses of a unit of work: its repositories, ``record`` and
    ``commit``, entered with ``async with`` (leaving without commit rolls back)."""

    @property
    def users(self) -> Users: ...
    @property
    def scores(self) -> Scores: ...
    @property
    def assessments(self) -> Assessments: ...
    def record(self, event: Event) -> object: ...
    async def commit(self) -> None: ...
    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class PlatformUnitOfWork(UnitOfWork):
    """One transaction over users, scores and assessments, with the outbox beside them."""

    users: UserRepository
    scores: ScoreRepository
    assessments: AssessmentRepository

    def open_repositories(self, session: AsyncSession) -> None:
        self.users = UserRepository(session)
        self.scores = ScoreRepository(session)
        self.assessments = AssessmentRepository(session)


UnitOfWorkFactory = Callable[[], Work]
"""What a platform service takes: a zero-argument callable returning a fresh, unentered unit
of work. Services open one unit per call; tests pass a factory of fakes."""


def uow_factory(db: Database) -> Callable[[], PlatformUnitOfWork]:
    """The factory of real units of work on ``db`` (a ``UnitOfWorkFactory``)."""
    return lambda: PlatformUnitOfWork(db)
