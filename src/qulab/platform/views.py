"""The read side: what the lab and the command line show about users, scores and events.

Plain async functions, each reading in a session of its own and returning read models
(``UserRead``, ``ScoreRead``, ``EventRow``), never ORM instances. Nothing here writes. The
statements themselves belong to the repositories (and, for the hot reads by id, to
``read_models``); this module decides what a screen needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement

from qulab.core.db import Database
from qulab.core.errors import InvalidInput, NotFound
from qulab.core.ids import validate_id
from qulab.core.outbox.repository import EventRow, OutboxRepository
from qulab.platform import read_models
from qulab.platform.events import SCORE_AGGREGATE
from qulab.platform.models import EventType
from qulab.platform.repositories import ScoreRepository, UserRepository, users_statement
from qulab.platform.schemas import ScoreRead, UserRead

MAX_LIST_LIMIT = 1000
# The largest OFFSET both SQLite and PostgreSQL accept (a signed 64-bit integer).
MAX_OFFSET = 2**63 - 1
OUTBOX_TABLE_ROWS = 20

__all__ = [
    "EventRow",
    "OutboxTables",
    "UserPage",
    "UserWithLatestScore",
    "aggregate_types",
    "find_user",
    "get_user",
    "list_users",
    "list_users_page",
    "outbox_tables",
    "score_event",
    "user_count",
    "user_ids",
    "user_with_latest_score",
    "users_by_email",
]

# -- users and scores ---------------------------------------------------------------------------


async def get_user(db: Database, user_id: str) -> UserRead:
    """The user with ``user_id``; NotFound when there is none (InvalidInput for a bad id)."""
    user_id = validate_id(user_id, "user_id")
    user = await read_models.read_user(db, user_id)
    if user is None:
        raise NotFound("user", user_id)
    return user


async def find_user(db: Database, user_id: str) -> UserRead | None:
    """The user with ``user_id``, or None when there is none (one Core statement)."""
    return await read_models.read_user(db, user_id)


async def list_users(db: Database, limit: int = 50, offset: int = 0) -> list[UserRead]:
    """Users oldest first, one page."""
    _check_page(limit, offset)
    async with db.reading() as session:
        users = await UserRepository(session).list(limit=limit, offset=offset)
        return [UserRead.model_validate(user) for user in users]


@dataclass(frozen=True)
class UserPage:
    """One page of users and how many there are in all."""

    users: list[UserRead]
    total: int
    limit: int
    offset: int

    @property
    def complete(self) -> bool:
        """Whether the page holds every user."""
        return len(self.users) == self.total


async def list_users_page(db: Database, limit: int = 50, offset: int = 0) -> UserPage:
    """A page of users oldest first, with the total. The total is counted (one COUNT) only
    when the page cannot tell it: a full page, or an empty one past the first."""
    _check_page(limit, offset)
    async with db.reading() as session:
        repository = UserRepository(session)
        users = [
            UserRead.model_validate(u) for u in await repository.list(limit=limit, offset=offset)
        ]
        if len(users) < limit and (users or offset == 0):
            total = offset + len(users)
        else:
            total = await repository.count()
    return UserPage(users, total, limit, offset)


def _check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidInput("limit", f"must be between 1 and {MAX_LIST_LIMIT}")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput("offset", f"must be between 0 and {MAX_OFFSET}")


async def user_count(db: Database) -> int:
    async with db.reading() as session:
        return await UserRepository(session).count()


async def user_ids(
    db: Database, limit: int | None = None, *, where: ColumnElement[bool] | None = None
) -> list[str]:
    """Ids of users oldest first (``where`` narrows them, e.g. to one seeding marker)."""
    async with db.reading() as session:
        found = await session.execute(users_statement(limit, where=where))
        return [user.id for user in found.scalars()]


async def users_by_email(db: Database, emails: Iterable[str]) -> dict[str, UserRead | None]:
    """Each email's user, or None where there is none, in the order given."""
    found: dict[str, UserRead | None] = {}
    async with db.reading() as session:
        repo = UserRepository(session)
        for email in emails:
            user = await repo.get_by_email(email)
            found[email] = UserRead.model_validate(user) if user is not None else None
    return found


@dataclass(frozen=True)
class UserWithLatestScore:
    user: UserRead
    latest_score: ScoreRead | None


async def user_with_latest_score(db: Database, email: str) -> UserWithLatestScore | None:
    """The user with ``email`` and their latest score, or None when there is no such user."""
    async with db.reading() as session:
        repo = UserRepository(session)
        found = await repo.get_by_email(email)
        if found is None:
            return None
        user = UserRead.model_validate(found)
        latest = await ScoreRepository(session).get_latest_or_none(user.id)
    return UserWithLatestScore(user, ScoreRead.model_validate(latest) if latest else None)


# -- outbox -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxTables:
    pending: list[EventRow]
    published: list[EventRow]
    failed: list[EventRow]


async def outbox_tables(db: Database, limit: int = OUTBOX_TABLE_ROWS) -> OutboxTables:
    """Pending events in relay order, the most recently published, and dead-lettered ones."""
    async with db.reading() as session:
        repo = OutboxRepository(session)
        return OutboxTables(
            await repo.get_pending_events(limit),
            await repo.published(limit),
            await repo.failed(limit),
        )


async def score_event(db: Database, score_id: str) -> EventRow | None:
    """The ``score.calculated`` event written with score ``score_id``."""
    async with db.reading() as session:
        return await OutboxRepository(session).for_aggregate(
            SCORE_AGGREGATE, score_id, EventType.SCORE_CALCULATED.value
        )


async def aggregate_types(db: Database) -> list[str]:
    """The aggregate types the outbox has events for (scores always among them)."""
    async with db.reading() as session:
        found = await OutboxRepository(session).aggregate_types()
    return sorted(set(found) | {SCORE_AGGREGATE})
