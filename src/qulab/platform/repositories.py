"""Repositories: data access by name, on the core's ``Repository`` base. They flush, never
commit; the unit of work commits.

Lookups that may miss return ``None`` (``get_one_or_none``); lookups that must hit raise NotFound
(``get``). Ids are validated before any SQL runs, so a malformed id never reaches the database.
The verbs the platform shares with the base (``get``, ``count``, ``delete``, adding a score) are
the base's; a refused write is translated there, once, and ``refused`` below gives the
platform's constraints their meaning: a taken email, a user deleted while a score or an
assessment was written for them. A user's scores and assessments are listed by user
(``list(user_id)``) and an assessment is started from a user and a component: those verbs mean
something else here than the base's. The outbox table has its own repository,
``qulab.core.outbox.repository.OutboxRepository``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import selectinload

from qulab.core.db_errors import IntegrityFailure, Violation
from qulab.core.errors import ConflictError, NotFound, UserError
from qulab.core.ids import validate_id
from qulab.core.repository import Ordering, Repository, Write
from qulab.platform.errors import DuplicateEmailError
from qulab.platform.models import (
    AIRScore,
    Assessment,
    AssessmentStatus,
    User,
)
from qulab.platform.schemas import UserCreate, UserUpdate


def _refused_for_user(failure: IntegrityFailure, what: str, user_id: str) -> UserError:
    """A row that belongs to a user was refused. The user deleted meanwhile (its foreign key
    fails) is NotFound; any other integrity failure is a one-line ConflictError."""
    if failure.violation is Violation.FOREIGN_KEY:
        return NotFound("user", user_id)
    return ConflictError(f"{what} for user {user_id} could not be stored: {failure.reason}")


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


class UserRepository(Repository[User]):
    """Users and the reads the lab needs around them."""

    model = User
    kind = "user"
    id_field = "user_id"
    default_order = (User.created_at, User.id)

    async def get_one_or_none(self, user_id: str | None = None, /, **filters: Any) -> User | None:
        """The user with this id (the codelab's ``get_by_id``), or the one whose columns equal
        ``filters``; None when there is none."""
        if user_id is not None:
            filters["id"] = user_id
        return await super().get_one_or_none(**filters)

    async def get_by_email(self, email: str) -> User | None:
        result = await self.session.execute(select(User).where(User.email == email.strip().lower()))
        return result.scalar_one_or_none()

    async def add(self, user: User | UserCreate, /) -> User:
        """Add and flush a validated user; a taken email raises DuplicateEmailError.

        ``user`` is a ``UserCreate`` (validated where it was built) or a ``User`` made from
        one; it is not validated again here.
        """
        if isinstance(user, UserCreate):
            user = User(**user.model_dump())
        return await super().add(user)

    async def update(
        self,
        user_id: str,
        changes: UserUpdate | Mapping[str, Any] | None = None,
        /,
        **values: Any,
    ) -> User:
        """Apply the fields a ``UserUpdate`` sets (or the given columns); a user deleted since
        it was read is NotFound."""
        if isinstance(changes, UserUpdate):
            changes = changes.changes()
        return await super().update(user_id, changes, **values)

    async def list(
        self,
        *where: ColumnElement[bool],
        order_by: Ordering | Sequence[Ordering] | None = None,
        limit: int | None = 50,
        offset: int | None = 0,
    ) -> Sequence[User]:
        """Users oldest first (ties broken by id), 50 at a time unless told otherwise."""
        return await super().list(*where, order_by=order_by, limit=limit, offset=offset)

    def refused(
        self,
        failure: IntegrityFailure,
        write: Write,
        *,
        row: User | None = None,
        ident: Any = None,
    ) -> UserError:
        if row is not None and failure.is_unique("users", "email"):
            return DuplicateEmailError(row.email)
        return super().refused(failure, write, row=row, ident=ident)

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


class ScoreRepository(Repository[AIRScore]):
    """AI-R scores; ``add`` is the base's, refused as a score of a user."""

    model = AIRScore
    kind = "score"
    id_field = "score_id"
    default_order = (AIRScore.created_at, AIRScore.id)

    def refused(
        self,
        failure: IntegrityFailure,
        write: Write,
        *,
        row: AIRScore | None = None,
        ident: Any = None,
    ) -> UserError:
        if write == "created" and row is not None:
            return _refused_for_user(failure, "score", row.user_id)
        return super().refused(failure, write, row=row, ident=ident)

    async def get_latest_or_none(self, user_id: str) -> AIRScore | None:
        """The user's newest score (the highest id breaks a tie in time), or None."""
        result = await self.session.execute(
            select(AIRScore)
            .where(AIRScore.user_id == validate_id(user_id, "user_id"))
            .order_by(AIRScore.created_at.desc(), AIRScore.id.desc())
            .limit(1)
        )
        return result.scalar_one_or_none()

    async def list(self, user_id: str) -> Sequence[AIRScore]:  # type: ignore[override]
        """One user's scores, oldest first (the platform's ``list``: by user)."""
        return await super().list(AIRScore.user_id == validate_id(user_id, "user_id"))


class AssessmentRepository(Repository[Assessment]):
    model = Assessment
    kind = "assessment"
    id_field = "assessment_id"
    default_order = (Assessment.created_at, Assessment.id)

    async def add(self, user_id: str, component: str) -> Assessment:  # type: ignore[override]
        """Start an assessment of ``component`` for a user (the platform's ``add``: from a user
        and a component); a user deleted meanwhile raises NotFound."""
        assessment = Assessment(user_id=validate_id(user_id, "user_id"), component=component)
        return await super().add(assessment)

    def refused(
        self,
        failure: IntegrityFailure,
        write: Write,
        *,
        row: Assessment | None = None,
        ident: Any = None,
    ) -> UserError:
        if write == "created" and row is not None:
            return _refused_for_user(failure, "assessment", row.user_id)
        return super().refused(failure, write, row=row, ident=ident)

    async def list(self, user_id: str) -> Sequence[Assessment]:  # type: ignore[override]
        """One user's assessments, oldest first (the platform's ``list``: by user)."""
        return await super().list(Assessment.user_id == validate_id(user_id, "user_id"))

    async def complete(self, assessment_id: str, ability: float, items: int) -> Assessment:
        """Record the final ability and item count; an assessment removed meanwhile (with its
        user) is NotFound."""
        return await self.update(
            assessment_id,
            status=AssessmentStatus.COMPLETED.value,
            current_ability=ability,
            items_administered=items,
        )
