"""Each repository method beside the SQL it sends: its source, run once on the configured
database, the statements it sent and how many.

Every method runs in its own session that is rolled back at the end (repositories flush, never
commit), so writes such as ``add``, ``update`` and ``delete`` leave nothing behind. Rows a
method needs (a user, a score, an assessment) are created in that same session before the
counter starts, so only the method's own statements are counted.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from qulab.core import Database, InvalidInput, count_session_statements, new_id
from qulab.platform import (
    Assessment,
    AssessmentRepository,
    ScoreRepository,
    User,
    UserCreate,
    UserRepository,
    UserUpdate,
    sample_score,
)

Call = Callable[[AsyncSession, "Subjects"], Awaitable[Any]]


@dataclass(frozen=True)
class Subjects:
    """The rows a method is called on, created in the method's own (rolled back) session."""

    user_id: str
    email: str
    assessment_id: str


@dataclass(frozen=True)
class TourStop:
    name: str
    method: Callable[..., Any]
    call: Call


@dataclass(frozen=True)
class MethodRun:
    """One method run: its source, the SQL the connection saw, and what it returned."""

    name: str
    source: str
    statements: tuple[str, ...]
    returned: str

    @property
    def statement_count(self) -> int:
        return len(self.statements)


STOPS: tuple[TourStop, ...] = (
    TourStop(
        "UserRepository.get", UserRepository.get, lambda s, t: UserRepository(s).get(t.user_id)
    ),
    TourStop(
        "UserRepository.get_one_or_none",
        UserRepository.get_one_or_none,
        lambda s, t: UserRepository(s).get_one_or_none(new_id()),
    ),
    TourStop(
        "UserRepository.get_by_email",
        UserRepository.get_by_email,
        lambda s, t: UserRepository(s).get_by_email(t.email),
    ),
    TourStop(
        "UserRepository.list", UserRepository.list, lambda s, t: UserRepository(s).list(limit=5)
    ),
    TourStop("UserRepository.count", UserRepository.count, lambda s, t: UserRepository(s).count()),
    TourStop(
        "UserRepository.add",
        UserRepository.add,
        lambda s, t: UserRepository(s).add(
            UserCreate(email=f"tour-{new_id()[:8]}@example.com", name="Tour User")
        ),
    ),
    TourStop(
        "UserRepository.update",
        UserRepository.update,
        lambda s, t: UserRepository(s).update(t.user_id, UserUpdate(name="Renamed in the tour")),
    ),
    TourStop(
        "UserRepository.delete",
        UserRepository.delete,
        lambda s, t: UserRepository(s).delete(t.user_id),
    ),
    TourStop(
        "UserRepository.get_latest_score",
        UserRepository.get_latest_score,
        lambda s, t: UserRepository(s).get_latest_score(t.user_id),
    ),
    TourStop(
        "UserRepository.get_user_with_scores_eager",
        UserRepository.get_user_with_scores_eager,
        lambda s, t: UserRepository(s).get_user_with_scores_eager(t.user_id),
    ),
    TourStop(
        "UserRepository.get_all_users_with_scores_eager",
        UserRepository.get_all_users_with_scores_eager,
        lambda s, t: UserRepository(s).get_all_users_with_scores_eager(5),
    ),
    TourStop(
        "ScoreRepository.add",
        ScoreRepository.add,
        lambda s, t: ScoreRepository(s).add(sample_score(t.user_id, "SW_ENG")),
    ),
    TourStop(
        "ScoreRepository.get_latest_or_none",
        ScoreRepository.get_latest_or_none,
        lambda s, t: ScoreRepository(s).get_latest_or_none(t.user_id),
    ),
    TourStop(
        "ScoreRepository.list",
        ScoreRepository.list,
        lambda s, t: ScoreRepository(s).list(t.user_id),
    ),
    TourStop(
        "AssessmentRepository.add",
        AssessmentRepository.add,
        lambda s, t: AssessmentRepository(s).add(t.user_id, "vr"),
    ),
    TourStop(
        "AssessmentRepository.get",
        AssessmentRepository.get,
        lambda s, t: AssessmentRepository(s).get(t.assessment_id),
    ),
    TourStop(
        "AssessmentRepository.list",
        AssessmentRepository.list,
        lambda s, t: AssessmentRepository(s).list(t.user_id),
    ),
    TourStop(
        "AssessmentRepository.complete",
        AssessmentRepository.complete,
        lambda s, t: AssessmentRepository(s).complete(t.assessment_id, 0.8, 12),
    ),
)
STOP_NAMES: tuple[str, ...] = tuple(stop.name for stop in STOPS)


def method_source(name: str) -> str:
    """The method's source as written: in ``qulab.platform.repositories``, or in the core's
    ``Repository`` base for a verb the platform inherits."""
    return inspect.getsource(_stop(name).method)


def _stop(name: str) -> TourStop:
    for stop in STOPS:
        if stop.name == name:
            return stop
    raise InvalidInput("method", f"unknown repository method {name!r}")


async def _subjects(session: AsyncSession) -> Subjects:
    """A user with one score and one assessment, flushed (never committed) in ``session``."""
    user = User(email=f"tour-{new_id()[:8]}@example.com", name="Tour Subject")
    session.add(user)
    await session.flush()
    session.add(sample_score(user.id, "SW_ENG"))
    assessment = Assessment(user_id=user.id, component="hr")
    session.add(assessment)
    await session.flush()
    session.expunge_all()  # the method finds its rows through SQL, not the identity map
    return Subjects(user.id, user.email, assessment.id)


def _describe(returned: Any) -> str:
    if isinstance(returned, list | tuple):
        return f"{len(returned)} rows"
    return repr(returned)


async def run_method(db: Database, name: str) -> MethodRun:
    """Run one repository method in a session that is rolled back, counting its statements."""
    stop = _stop(name)
    async with db.session() as session:
        try:
            subjects = await _subjects(session)
            async with count_session_statements(session) as counter:
                returned = await stop.call(session, subjects)
            described = _describe(returned)
        finally:
            await session.rollback()
    return MethodRun(name, method_source(name), tuple(counter.statements), described)
