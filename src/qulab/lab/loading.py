"""The Apply exercise: choose a loading strategy per relationship for a page listing N users
with their scores and latest assessment, then measure what that choice sends to the database.

Each relationship gets one of ``raise``, ``lazyload`` (one statement per user, on purpose),
``selectinload``, ``joinedload`` or ``subqueryload``. The page is loaded in a fresh session per
run; statements are counted on the session's connection; the time is the median of repeated runs
after a warm-up. A ``raise`` on a relationship the page reads stops the page with SQLAlchemy's
own message, which the result carries instead of data.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, select
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import (
    QueryableAttribute,
    joinedload,
    lazyload,
    raiseload,
    selectinload,
    subqueryload,
)
from sqlalchemy.orm.interfaces import LoaderOption

from qulab.core import Database, InvalidInput, count_session_statements, new_id, utcnow
from qulab.platform import (
    Assessment,
    AssessmentStatus,
    PlatformUnitOfWork,
    User,
    count_seeded,
    ensure_seeded,
    seeded_users,
    users_statement,
)

RAISE = "raise"
LAZY = "lazyload"
SELECTIN = "selectinload"
JOINED = "joinedload"
SUBQUERY = "subqueryload"
STRATEGIES: tuple[str, ...] = (RAISE, LAZY, SELECTIN, JOINED, SUBQUERY)

APPLY_MARKER = "labapply"
APPLY_SCORES = 3
APPLY_ASSESSMENTS = 2
DEFAULT_BUDGET = 3
DEFAULT_REPEATS = 5
MAX_USERS = 200


@dataclass(frozen=True)
class PageRow:
    """One line of the page: a user, their number of scores, their latest assessment."""

    name: str
    scores: int
    latest_assessment: str | None


@dataclass(frozen=True)
class LoadingChoice:
    """The strategy for ``User.scores`` and for ``User.assessments``."""

    scores: str
    assessments: str

    def __post_init__(self) -> None:
        for relationship, strategy in (("scores", self.scores), ("assessments", self.assessments)):
            if strategy not in STRATEGIES:
                raise InvalidInput(relationship, f"unknown loading strategy {strategy!r}")


@dataclass(frozen=True)
class ExerciseRun:
    """What one choice cost: statements (of one run), times of every measured run, verdict."""

    choice: LoadingChoice
    users: int
    budget: int
    statement_count: int
    statements: tuple[str, ...]
    times_s: tuple[float, ...]
    rows: tuple[PageRow, ...]
    error: str | None = None

    @property
    def median_s(self) -> float:
        return statistics.median(self.times_s) if self.times_s else 0.0

    @property
    def spread_s(self) -> tuple[float, float]:
        return (min(self.times_s), max(self.times_s)) if self.times_s else (0.0, 0.0)

    @property
    def within_budget(self) -> bool:
        return self.error is None and self.statement_count <= self.budget


def _option(strategy: str, attribute: QueryableAttribute[Any]) -> LoaderOption:
    options = {
        RAISE: raiseload,
        LAZY: lazyload,
        SELECTIN: selectinload,
        JOINED: joinedload,
        SUBQUERY: subqueryload,
    }
    return options[strategy](attribute)


def _latest(assessments: Sequence[Assessment]) -> str | None:
    if not assessments:
        return None
    newest = max(assessments, key=lambda item: (item.created_at, item.id))
    return f"{newest.component} ({newest.status})"


async def load_page(
    session: AsyncSession, choice: LoadingChoice, users: int, where: ColumnElement[bool]
) -> list[PageRow]:
    """The page's reads: N users, then each user's scores and assessments as the choice says.

    The collections are read through ``awaitable_attrs``, so ``lazyload`` really sends one
    statement per user and relationship, and ``raise`` really raises.
    """
    statement = users_statement(users, where=where).options(
        _option(choice.scores, User.scores), _option(choice.assessments, User.assessments)
    )
    loaded = (await session.execute(statement)).unique().scalars().all()
    rows = []
    for user in loaded:
        scores = await user.awaitable_attrs.scores
        assessments = await user.awaitable_attrs.assessments
        rows.append(PageRow(user.name, len(scores), _latest(assessments)))
    return rows


async def _timed(
    db: Database, choice: LoadingChoice, users: int, where: ColumnElement[bool]
) -> tuple[float, list[PageRow], tuple[str, ...]]:
    async with db.session() as session, count_session_statements(session) as counter:
        start = time.perf_counter()
        rows = await load_page(session, choice, users, where)
        elapsed = time.perf_counter() - start
    return elapsed, rows, tuple(counter.statements)


async def run_exercise(
    db: Database,
    choice: LoadingChoice,
    users: int,
    *,
    budget: int = DEFAULT_BUDGET,
    repeats: int = DEFAULT_REPEATS,
    where: ColumnElement[bool] | None = None,
) -> ExerciseRun:
    """Load the page ``repeats`` times after one warm-up run that is not measured.

    ``where`` picks the users (by default those seeded under APPLY_MARKER; see
    ``ensure_exercise_rows``). A ``raise`` the page runs into is returned as ``error``.
    """
    if not 1 <= users <= MAX_USERS:
        raise InvalidInput("users", f"must be between 1 and {MAX_USERS}")
    if repeats < 1:
        raise InvalidInput("repeats", "must be 1 or more")
    chosen = where if where is not None else seeded_users(APPLY_MARKER)
    try:
        await _timed(db, choice, users, chosen)
        measured = [await _timed(db, choice, users, chosen) for _ in range(repeats)]
    except InvalidRequestError as error:
        return ExerciseRun(choice, users, budget, 0, (), (), (), error=str(error).split("\n")[0])
    _, rows, statements = measured[-1]
    return ExerciseRun(
        choice=choice,
        users=len(rows),
        budget=budget,
        statement_count=len(statements),
        statements=statements,
        times_s=tuple(elapsed for elapsed, _, _ in measured),
        rows=tuple(rows),
    )


async def _assessment_count(db: Database, where: ColumnElement[bool]) -> int:
    async with db.session() as session:
        statement = select(func.count(Assessment.id)).where(
            Assessment.user_id.in_(select(User.id).where(where))
        )
        return int((await session.execute(statement)).scalar_one())


async def ensure_exercise_rows(db: Database, users: int) -> bool:
    """At least ``users`` users under APPLY_MARKER, each with APPLY_SCORES scores and
    APPLY_ASSESSMENTS assessments (the newest one in progress). Returns whether it wrote."""
    where = seeded_users(APPLY_MARKER)
    wrote = await ensure_seeded(db, users, APPLY_SCORES, marker=APPLY_MARKER)
    present = await count_seeded(db, APPLY_MARKER)
    if not wrote and await _assessment_count(db, where) == present * APPLY_ASSESSMENTS:
        return False
    async with PlatformUnitOfWork(db) as uow:
        ids = (await uow.session.execute(select(User.id).where(where))).scalars().all()
        await uow.session.execute(
            delete(Assessment).where(Assessment.user_id.in_(select(User.id).where(where)))
        )
        rows = []
        now = utcnow()
        for user_id in ids:
            for index, status in enumerate(
                (AssessmentStatus.COMPLETED.value, AssessmentStatus.IN_PROGRESS.value)
            ):
                rows.append(
                    {
                        "id": new_id(),
                        "user_id": user_id,
                        "status": status,
                        "component": ("vr", "hr")[index],
                        "current_ability": 0.0,
                        "items_administered": 0,
                        "created_at": now - timedelta(days=1 - index),
                        "updated_at": now,
                    }
                )
        if rows:
            # New rows of seeded users: nothing is cached for them, so no event is recorded.
            await uow.session.execute(insert(Assessment), rows)
        await uow.commit()
    return True
