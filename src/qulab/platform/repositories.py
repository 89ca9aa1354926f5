"""Repositories: data access by name. They flush, never commit; the unit of work commits.

Lookups that may miss return ``None`` (``get_one_or_none``); lookups that must hit raise NotFound
(``get``). Ids are validated before any SQL runs, so a malformed id never reaches the database.
The outbox table has its own repository, ``qulab.core.outbox.repository.OutboxRepository``.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from qulab.core.db_errors import IntegrityFailure, Violation, classify_integrity
from qulab.core.errors import ConflictError, DuplicateEmailError, NotFound
from qulab.core.ids import validate_id
from qulab.platform.models import (
    AIRScore,
    Assessment,
    AssessmentStatus,
    User,
)
from qulab.platform.schemas import UserCreate, UserUpdate


def _constraint(failure: IntegrityFailure) -> str:
    """The violated constraint, named when the driver says which, in one line."""
    if failure.constraint:
        return f"constraint {failure.constraint} was violated"
    return failure.detail or "a constraint was violated"


async def _flush_for_user(session: AsyncSession, user_id: str, what: str) -> None:
    """Flush a row that belongs to a user. The user deleted meanwhile (its foreign key fails)
    is NotFound; any other integrity failure is a one-line ConflictError."""
    try:
        await session.flush()
    except IntegrityError as error:
        failure = classify_integrity(error)
        if failure.violation is Violation.FOREIGN_KEY:
            raise NotFound("user", user_id) from None
        raise ConflictError(
            f"{what} for user {user_id} could not be stored: {_constraint(failure)}"
        ) from None


async def _flush_update(session: AsyncSession, kind: str, ident: str) -> None:
    """Flush an update of a row read earlier in this transaction. A row deleted meanwhile (its
    UPDATE matches nothing) is NotFound, as if it had been gone at the read."""
    try:
        await session.flush()
    except StaleDataError:
        raise NotFound(kind, ident) from None


def users_statement(
    limit: int | None = None, *, where: ColumnElement[bool] | None = None
) -> Select[tuple[User]]:
    """Users oldest first (ties broken by id), optionally filtered and limited."""
    statement = select(User).order_by(User.created_at, User.id)
    if where is not None:
        statement = statement.where(where)
    if limit is not None:
        statement = statement.limit(limit)
    return statement


class UserRepository:
    """Users and the reads the lab needs around them."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_one_or_none(self, user_id: str) -> User | None:
        user_id = validate_id(user_id, "user_id")
        return await self.session.get(User, user_id)

    async def get(self, user_id: str) -> User:
        user = await self.get_one_or_none(user_id)
        if user is None:
            raise NotFound("user", user_id)
        return user

    async def get_by_email(self, email: str) -> User | None:
        result = await self.session.execute(select(User).where(User.email == email.strip().lower()))
        return result.scalar_one_or_none()

    async def add(self, user: User | UserCreate) -> User:
        """Add and flush a validated user; a taken email raises DuplicateEmailError.

        ``user`` is a ``UserCreate`` (validated where it was built) or a ``User`` made from
        one; it is not validated again here.
        """
        if isinstance(user, UserCreate):
            user = User(**user.model_dump())
        self.session.add(user)
        try:
            await self.session.flush()
        except IntegrityError as error:
            failure = classify_integrity(error)
            if failure.is_unique("users", "email"):
                raise DuplicateEmailError(user.email) from None
            raise ConflictError(f"user could not be created: {_constraint(failure)}") from None
        return user

    async def update(self, user_id: str, changes: UserUpdate) -> User:
        user = await self.get(user_id)
        values = changes.changes()
        for key, value in values.items():
            setattr(user, key, value)
        if values:
            await _flush_update(self.session, "user", user_id)
        return user

    async def delete(self, user_id: str) -> User:
        """Delete a user in one statement and return the deleted row.

        The database deletes their assessments and scores with it (ON DELETE CASCADE), rows
        committed by concurrent writers included. An unknown id raises NotFound; a delete that
        another reference blocks raises ConflictError. Nothing is loaded first.
        """
        user_id = validate_id(user_id, "user_id")
        try:
            user = await self._delete_row(user_id)
        except IntegrityError as error:
            failure = classify_integrity(error)
            referenced = failure.violation is Violation.FOREIGN_KEY
            reason = "other rows still refer to it" if referenced else ""
            detail = f"{reason} ({_constraint(failure)})" if reason else _constraint(failure)
            raise ConflictError(f"user {user_id} could not be deleted: {detail}") from None
        if user is None:
            raise NotFound("user", user_id)
        return user

    async def _delete_row(self, user_id: str) -> User | None:
        statement = delete(User).where(User.id == user_id)
        if self.session.get_bind().dialect.delete_returning:
            result = await self.session.execute(statement.returning(User))
            return result.scalar_one_or_none()
        # SQLite before 3.35 has no RETURNING: read the row, then delete it. If another writer
        # deleted it in between, this DELETE matches nothing and the user is NotFound.
        user = await self.session.get(User, user_id)
        deleted = await self.session.execute(statement.execution_options(synchronize_session=False))
        return user if getattr(deleted, "rowcount", 0) == 1 else None

    async def list(self, limit: int = 50, offset: int = 0) -> Sequence[User]:
        result = await self.session.execute(
            select(User).order_by(User.created_at, User.id).limit(limit).offset(offset)
        )
        return result.scalars().all()

    async def count(self) -> int:
        return int((await self.session.execute(select(func.count(User.id)))).scalar_one())

    async def get_latest_score(self, user_id: str) -> AIRScore | None:
        """Seed name (see ``qulab.seed_names``) of ``ScoreRepository.get_latest_or_none``."""
        return await ScoreRepository(self.session).get_latest_or_none(user_id)

    async def get_user_with_scores_eager(self, user_id: str) -> User | None:
        """One user and their scores in two statements (``selectinload``)."""
        result = await self.session.execute(
            select(User)
            .options(selectinload(User.scores))
            .where(User.id == validate_id(user_id, "user_id"))
        )
        return result.scalar_one_or_none()

    async def get_all_users_with_scores_eager(
        self, limit: int | None = None, *, where: ColumnElement[bool] | None = None
    ) -> Sequence[User]:
        """All users with their scores in exactly two statements, whatever the number of users.

        ``where`` narrows the users (e.g. to one seeding marker); the order is the one
        ``users_statement`` gives, so a per-row load over the same users sees the same rows.
        """
        statement = users_statement(limit, where=where).options(selectinload(User.scores))
        return (await self.session.execute(statement)).scalars().all()

    # Seed names (listed in ``qulab.seed_names``): the codelab's spelling of the verbs above.
    get_by_id = get_one_or_none
    create = add


class ScoreRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, score: AIRScore) -> AIRScore:
        """Add and flush; a user deleted meanwhile raises NotFound, nothing is kept."""
        self.session.add(score)
        await _flush_for_user(self.session, score.user_id, "score")
        return score

    async def get_latest_or_none(self, user_id: str) -> AIRScore | None:
        """The user's newest score (the highest id breaks a tie in time), or None."""
        result = await self.session.execute(
            select(AIRScore)
            .where(AIRScore.user_id == validate_id(user_id, "user_id"))
            .order_by(AIRScore.created_at.desc(), AIRScore.id.desc())
            .limit(1)
        )
        return result.scalar_one_or_none()

    async def list(self, user_id: str) -> Sequence[AIRScore]:
        result = await self.session.execute(
            select(AIRScore)
            .where(AIRScore.user_id == validate_id(user_id, "user_id"))
            .order_by(AIRScore.created_at, AIRScore.id)
        )
        return result.scalars().all()


class AssessmentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, user_id: str, component: str) -> Assessment:
        assessment = Assessment(user_id=validate_id(user_id, "user_id"), component=component)
        self.session.add(assessment)
        await _flush_for_user(self.session, assessment.user_id, "assessment")
        return assessment

    async def get(self, assessment_id: str) -> Assessment:
        found = await self.session.get(Assessment, validate_id(assessment_id, "assessment_id"))
        if found is None:
            raise NotFound("assessment", assessment_id)
        return found

    async def list(self, user_id: str) -> Sequence[Assessment]:
        result = await self.session.execute(
            select(Assessment)
            .where(Assessment.user_id == validate_id(user_id, "user_id"))
            .order_by(Assessment.created_at, Assessment.id)
        )
        return result.scalars().all()

    async def complete(self, assessment_id: str, ability: float, items: int) -> Assessment:
        assessment = await self.get(assessment_id)
        assessment.status = AssessmentStatus.COMPLETED.value
        assessment.current_ability = ability
        assessment.items_administered = items
        await _flush_update(self.session, "assessment", assessment_id)
        return assessment
