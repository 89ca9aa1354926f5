"""An in-memory unit of work for service unit tests: fake repositories over dictionaries, the
events a service records, and whether it committed. Nothing is kept unless ``commit`` runs.

``FakeUnitOfWork`` implements the platform's ``Work`` protocol, the same one the real unit of
work does, so a factory of fakes is a ``UnitOfWorkFactory`` (checked by the type checker and by
tests/unit/test_fake_uow.py)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self, TypeVar

from qulab.core.errors import NotFound
from qulab.core.ids import new_id
from qulab.core.models import utcnow
from qulab.platform.errors import DuplicateEmailError
from qulab.platform.events import Event
from qulab.platform.models import AIRScore, Assessment, AssessmentStatus, User
from qulab.platform.schemas import UserCreate, UserUpdate

Row = TypeVar("Row", User, Assessment, AIRScore)


def _stamp(row: Row) -> Row:
    row.id = row.id or new_id()
    row.created_at = row.created_at or utcnow()
    row.updated_at = utcnow()
    return row


def _clone(row: Row) -> Row:
    """A detached copy, so a change is seen by the store only once the unit commits."""
    return type(row)(**{column.key: getattr(row, column.key) for column in row.__table__.columns})


@dataclass
class Store:
    """What is "in the database": committed rows and committed events, in order."""

    users: dict[str, User] = field(default_factory=dict)
    assessments: dict[str, Assessment] = field(default_factory=dict)
    scores: dict[str, AIRScore] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)


class FakeUserRepository:
    def __init__(self, rows: dict[str, User]) -> None:
        self.rows = rows

    async def get(self, user_id: str) -> User:
        if user_id not in self.rows:
            raise NotFound("user", user_id)
        return self.rows[user_id]

    async def add(self, user: User | UserCreate) -> User:
        row = User(**user.model_dump()) if isinstance(user, UserCreate) else user
        if any(other.email == row.email for other in self.rows.values()):
            raise DuplicateEmailError(row.email)
        row = _stamp(row)
        self.rows[row.id] = row
        return row

    async def update(self, user_id: str, changes: UserUpdate) -> User:
        user = self.rows[user_id] = _clone(await self.get(user_id))
        for key, value in changes.changes().items():
            setattr(user, key, value)
        return _stamp(user)

    async def delete(self, user_id: str) -> User:
        return self.rows.pop(user_id) if user_id in self.rows else await self.get(user_id)


class FakeAssessmentRepository:
    def __init__(self, rows: dict[str, Assessment]) -> None:
        self.rows = rows

    async def add(self, user_id: str, component: str) -> Assessment:
        row = Assessment(
            user_id=user_id,
            component=component,
            status=AssessmentStatus.IN_PROGRESS.value,
            current_ability=0.0,
            items_administered=0,
        )
        row = _stamp(row)
        self.rows[row.id] = row
        return row

    async def get(self, assessment_id: str) -> Assessment:
        if assessment_id not in self.rows:
            raise NotFound("assessment", assessment_id)
        return self.rows[assessment_id]

    async def list(self, user_id: str) -> list[Assessment]:
        return [row for row in self.rows.values() if row.user_id == user_id]

    async def complete(self, assessment_id: str, ability: float, items: int) -> Assessment:
        row = self.rows[assessment_id] = _clone(await self.get(assessment_id))
        row.status = AssessmentStatus.COMPLETED.value
        row.current_ability = ability
        row.items_administered = items
        return _stamp(row)


class FakeScoreRepository:
    def __init__(self, rows: dict[str, AIRScore]) -> None:
        self.rows = rows

    async def add(self, score: AIRScore) -> AIRScore:
        row = _stamp(score)
        self.rows[row.id] = row
        return row


class FakeUnitOfWork:
    """Works on copies of the store; ``commit`` puts them (and the recorded events) back."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.recorded: list[Event] = []
        self.committed = False

    async def __aenter__(self) -> Self:
        self.users = FakeUserRepository(copy.copy(self.store.users))
        self.assessments = FakeAssessmentRepository(copy.copy(self.store.assessments))
        self.scores = FakeScoreRepository(copy.copy(self.store.scores))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.committed:
            self.recorded.clear()

    def record(self, event: Event) -> None:
        self.recorded.append(event)

    async def commit(self) -> None:
        self.store.users = self.users.rows
        self.store.assessments = self.assessments.rows
        self.store.scores = self.scores.rows
        self.store.events.extend(self.recorded)
        self.committed = True


class FakeFactory:
    """A unit-of-work factory that remembers every unit it handed out."""

    def __init__(self, store: Store | None = None) -> None:
        self.store = store or Store()
        self.units: list[FakeUnitOfWork] = []

    def __call__(self) -> FakeUnitOfWork:
        unit = FakeUnitOfWork(self.store)
        self.units.append(unit)
        return unit

    @property
    def committed(self) -> bool:
        return bool(self.units) and all(unit.committed for unit in self.units)
