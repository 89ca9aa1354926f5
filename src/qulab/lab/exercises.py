"""Apply by writing: the exercises a learner answers with code, and their model answers.

Each exercise asks for one function: ``query()`` returning a ``select()`` (with loading options
where the task needs them), or a repository method taking a read-only session. It runs against
the users seeded under APPLY_MARKER (the predicate ``exercise_users``); its result is turned into
plain rows by ``shape`` and compared with the rows of the model answer, run the same way; its
statements are counted against the exercise's budget. Hints are shown after a wrong attempt.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload, subqueryload

from qulab.lab.errors import WrongShape
from qulab.lab.exercise_rows import APPLY_MARKER
from qulab.platform import AIRScore, Assessment, User, seeded_users

Row = tuple[Any, ...]
Kind = Literal["query", "method"]
EXERCISE_USERS = 12
PLACES = 4


def tools() -> dict[str, Any]:
    """The names learner code is given (and the only ones it may import)."""
    return {
        "select": select,
        "func": func,
        "selectinload": selectinload,
        "joinedload": joinedload,
        "subqueryload": subqueryload,
        "User": User,
        "AIRScore": AIRScore,
        "Assessment": Assessment,
        "exercise_users": seeded_users(APPLY_MARKER),
    }


TOOL_NAMES: tuple[str, ...] = tuple(tools())


@dataclass(frozen=True)
class Exercise:
    key: str
    title: str
    task: str
    kind: Kind
    entry: str
    starter: str
    reference: str
    budget: int
    hints: tuple[str, ...]
    shape: Callable[[Any], list[Row]]
    arguments: Mapping[str, Any] = field(default_factory=dict)


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, PLACES)
    if value is None or isinstance(value, str | int | bool):
        return value
    raise WrongShape(
        f"The rows hold {type(value).__name__} objects: select the columns the task asks for."
    )


def column_rows(result: Any) -> list[Row]:
    return [tuple(_plain(value) for value in row) for row in result.all()]


def _users(value: Any) -> list[Any]:
    users = list(value.unique().scalars().all()) if hasattr(value, "unique") else list(value)
    for user in users:
        if not isinstance(user, User):
            raise WrongShape(
                f"Expected User objects, got a {type(user).__name__}: select(User) returns them."
            )
    return users


def users_with_scores(result: Any) -> list[Row]:
    return [
        (user.email, tuple(sorted(round(score.air_score, PLACES) for score in user.scores)))
        for user in _users(result)
    ]


def users_with_counts(value: Any) -> list[Row]:
    return [(user.email, len(user.scores), len(user.assessments)) for user in _users(value)]


BEST_SCORES = Exercise(
    key="best-scores",
    title="Each user's number of scores and best score",
    task=(
        "Write `query()` returning a `select()` of three columns for each of the exercise's "
        "users (`.where(exercise_users)`): the email, how many scores the user has, and their "
        "highest AI-R score, ordered by email. One statement is the budget."
    ),
    kind="query",
    entry="query",
    starter="def query():\n    return select(User.email).where(exercise_users)\n",
    reference=(
        "def query():\n"
        "    return (\n"
        "        select(User.email, func.count(AIRScore.id), func.max(AIRScore.air_score))\n"
        "        .join(User.scores)\n"
        "        .where(exercise_users)\n"
        "        .group_by(User.id, User.email)\n"
        "        .order_by(User.email)\n"
        "    )\n"
    ),
    budget=1,
    hints=(
        "Join the scores to their users with `.join(User.scores)` and aggregate with "
        "`func.count(AIRScore.id)` and `func.max(AIRScore.air_score)`.",
        "Aggregates need `.group_by(User.id, User.email)`; finish with `.order_by(User.email)`.",
    ),
    shape=column_rows,
)

EAGER_SCORES = Exercise(
    key="eager-scores",
    title="Users with their scores, loaded eagerly",
    task=(
        "Write `query()` returning `select(User)` for the exercise's users, ordered by email, "
        "with each user's `scores` loaded by the query itself. The page then reads `user.scores` "
        "for every user; `User.scores` refuses to load quietly. Budget: two statements, whatever "
        "the number of users."
    ),
    kind="query",
    entry="query",
    starter="def query():\n    return select(User).where(exercise_users).order_by(User.email)\n",
    reference=(
        "def query():\n"
        "    return (\n"
        "        select(User)\n"
        "        .where(exercise_users)\n"
        "        .order_by(User.email)\n"
        "        .options(selectinload(User.scores))\n"
        "    )\n"
    ),
    budget=2,
    hints=(
        "A loading option goes on the select: `.options(...)`.",
        "`selectinload(User.scores)` loads every user's scores with one more statement.",
    ),
    shape=users_with_scores,
)

REPOSITORY_METHOD = Exercise(
    key="repository-method",
    title="A repository method: a page of users with scores and assessments",
    task=(
        "Write the repository method `async def users_page(session, limit)`: the first `limit` "
        "of the exercise's users by email, each with `scores` and `assessments` loaded, as a "
        "list of `User`. Use `await session.scalars(...)` or `await session.execute(...)`. "
        "Budget: three statements, whatever `limit` is."
    ),
    kind="method",
    entry="users_page",
    starter=(
        "async def users_page(session, limit):\n"
        "    statement = select(User).where(exercise_users).order_by(User.email).limit(limit)\n"
        "    return (await session.scalars(statement)).all()\n"
    ),
    reference=(
        "async def users_page(session, limit):\n"
        "    statement = (\n"
        "        select(User)\n"
        "        .where(exercise_users)\n"
        "        .order_by(User.email)\n"
        "        .limit(limit)\n"
        "        .options(selectinload(User.scores), selectinload(User.assessments))\n"
        "    )\n"
        "    return (await session.scalars(statement)).all()\n"
    ),
    budget=3,
    hints=(
        "Both relationships need a loading option on the one select.",
        "`.options(selectinload(User.scores), selectinload(User.assessments))`: one statement "
        "for the users and one per relationship.",
    ),
    shape=users_with_counts,
    arguments={"limit": 5},
)

EXERCISES: tuple[Exercise, ...] = (BEST_SCORES, EAGER_SCORES, REPOSITORY_METHOD)
BY_KEY: dict[str, Exercise] = {exercise.key: exercise for exercise in EXERCISES}
