"""Apply by writing: answers run in the sandbox and are graded by rows and statement count;
hostile answers are refused with one sentence and change nothing, on SQLite and PostgreSQL."""

from __future__ import annotations

import inspect
import types
import warnings

import pytest
from sqlalchemy import Connection, Dialect, Engine, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import Session, selectinload

from qulab.core.db import Database
from qulab.lab.answer_grade import grade_answer, reference_rows
from qulab.lab.exercise_rows import APPLY_MARKER, ensure_exercise_rows
from qulab.lab.exercises import BEST_SCORES, EAGER_SCORES, EXERCISE_USERS, EXERCISES, tools
from qulab.lab.sandbox import Refused, check_source
from qulab.lab.sandbox.guard import ReadSession
from qulab.lab.sandbox.worker import read_only_session
from qulab.platform import AIRScore, Assessment, User, seeded_users

LOOP = "def query():\n    while True:\n        pass\n"
HOSTILE = {
    "an infinite loop": (
        "best-scores",
        LOOP,
        "used up its 2 s of CPU time and was stopped",
    ),
    "__import__": (
        "best-scores",
        "def query():\n    return __import__('os').system('echo hi')\n",
        "`__import__` is refused: names starting with an underscore",
    ),
    "the mro trick": (
        "best-scores",
        "def query():\n    return ().__class__.__mro__[1].__subclasses__()\n",
        "`.__class__` is refused",
    ),
    "a generator frame": (
        "best-scores",
        "def query():\n    return (x for x in ()).gi_frame.f_back.f_globals\n",
        "`.gi_frame` is refused",
    ),
    "open()": (
        "best-scores",
        "def query():\n    return open('/etc/passwd').read()\n",
        "`open` is not available: the sandbox has no file or network access.",
    ),
    "import os": (
        "best-scores",
        "import os\ndef query():\n    return select(User)\n",
        "`import os` is not allowed",
    ),
    "an UPDATE import": (
        "best-scores",
        "from sqlalchemy import update\ndef query():\n    return update(User).values(name='x')\n",
        "`update` is not on the sandbox's allow-list",
    ),
    "a DROP as text": (
        "repository-method",
        "async def users_page(session, limit):\n"
        "    return await session.execute('DROP TABLE users')\n",
        "Only SELECT statements run here, and this was SQL text in a string",
    ),
    "a DELETE built from the table": (
        "best-scores",
        "def query():\n    return User.metadata.tables['air_scores'].delete()\n",
        "Only SELECT statements run here, and this was a DELETE statement",
    ),
    "an UPDATE built from the table": (
        "best-scores",
        "def query():\n    return User.metadata.tables['users'].update().values(name='x')\n",
        "Only SELECT statements run here, and this was a UPDATE statement",
    ),
    "a session write": (
        "repository-method",
        "async def users_page(session, limit):\n"
        "    user = (await session.scalars(select(User).limit(1))).first()\n"
        "    await session.delete(user)\n",
        "`session.delete` is not available",
    ),
    "a server file read": (
        "best-scores",
        "def query():\n    return select(func.pg_read_file('/etc/passwd'))\n",
        "The SQL function `pg_read_file` is not allowed here",
    ),
    "a function inside a loading option's criteria": (
        "eager-scores",
        "def query():\n"
        "    return select(User).options(\n"
        "        selectinload(User.scores.and_(func.pg_read_file('/etc/passwd') != '')))\n",
        "The SQL function `pg_read_file` is not allowed here",
    ),
    "the connection behind a result": (
        "repository-method",
        "async def users_page(session, limit):\n"
        "    result = await session.execute(select(User))\n"
        "    return result.raw.context.root_connection.exec_driver_sql('DELETE FROM users')\n",
        "`.raw` is refused: it leads to the database connection itself",
    ),
    "a raw operator": (
        "best-scores",
        "def query():\n    return select(User).where(User.name.op('IS NOT NULL OR')(1))\n",
        "`.op` is refused: it passes raw SQL text",
    ),
}

RIGHT_BEST = BEST_SCORES.reference
PER_ROW_METHOD = (
    "async def users_page(session, limit):\n"
    "    users = (await session.scalars(\n"
    "        select(User).where(exercise_users).order_by(User.email).limit(limit)\n"
    "        .options(selectinload(User.assessments)))).all()\n"
    "    for user in users:\n"
    "        await session.scalars(select(AIRScore).where(AIRScore.user_id == user.id))\n"
    "    return (await session.scalars(\n"
    "        select(User).where(exercise_users).order_by(User.email).limit(limit)\n"
    "        .options(selectinload(User.scores), selectinload(User.assessments)))).all()\n"
)


async def _snapshot(db: Database) -> tuple[int, int, int, float]:
    async with db.session() as session:
        users = await session.scalar(select(func.count(User.id)))
        scores = await session.scalar(select(func.count(AIRScore.id)))
        assessments = await session.scalar(select(func.count(Assessment.id)))
        total = await session.scalar(select(func.sum(AIRScore.air_score)))
    return int(users or 0), int(scores or 0), int(assessments or 0), float(total or 0)


async def test_every_model_answer_passes_its_own_check(db: Database) -> None:
    for exercise in EXERCISES:
        grade = await grade_answer(db, exercise.key, exercise.reference)
        assert grade.passed, (exercise.key, grade.verdict)
        assert grade.rows == grade.expected
        assert grade.statement_count <= exercise.budget
    expected, count = await reference_rows(db, BEST_SCORES)
    assert len(expected) >= EXERCISE_USERS and count == 1
    assert {row[1] for row in expected} == {3}


async def test_a_query_without_loading_options_is_wrong_and_names_the_relationship(
    db: Database,
) -> None:
    grade = await grade_answer(db, EAGER_SCORES.key, EAGER_SCORES.starter)
    assert not grade.passed
    assert grade.verdict.startswith("`User.scores` was not loaded by your statement")
    assert grade.statement_count == 1  # the users were read before the page needed the scores


async def test_a_joinedload_answer_is_right_in_one_statement(db: Database) -> None:
    source = EAGER_SCORES.reference.replace("selectinload", "joinedload")
    grade = await grade_answer(db, EAGER_SCORES.key, source)
    assert grade.passed, grade.verdict
    assert grade.statement_count == 1


async def test_wrong_rows_and_over_budget_are_told_apart(db: Database) -> None:
    unordered = RIGHT_BEST.replace(
        "        .order_by(User.email)\n", "        .order_by(User.email.desc())\n"
    )
    wrong = await grade_answer(db, BEST_SCORES.key, unordered)
    assert not wrong.passed
    assert (
        wrong.verdict.startswith("Wrong rows: row 1 should be")
        and "(check the order)" in wrong.verdict
    )
    short = await grade_answer(db, BEST_SCORES.key, BEST_SCORES.starter)
    assert not short.passed and short.verdict.startswith("Wrong rows: row 1 should be")
    over = await grade_answer(db, "repository-method", PER_ROW_METHOD)
    assert over.rows == over.expected
    assert not over.passed
    assert over.statement_count == 2 + 5 + 3  # users and assessments, 5 per-row reads, the page
    assert over.verdict.startswith("Right rows, but 10 statements is over the budget of 3")


@pytest.mark.parametrize("name", list(HOSTILE))
async def test_hostile_answers_are_refused_and_change_nothing(db: Database, name: str) -> None:
    await ensure_exercise_rows(db, EXERCISE_USERS)
    before = await _snapshot(db)
    exercise, source, sentence = HOSTILE[name]
    grade = await grade_answer(db, exercise, source)
    assert not grade.passed
    assert grade.refused, grade.verdict
    assert sentence in grade.verdict
    assert "\n" not in grade.verdict and "Traceback" not in grade.verdict
    assert await _snapshot(db) == before


async def test_the_transaction_itself_refuses_writes_that_pass_no_guard(db: Database) -> None:
    await ensure_exercise_rows(db, EXERCISE_USERS)
    before = await _snapshot(db)
    for statement in (delete(AIRScore), update(User).values(name="changed")):
        with pytest.raises(Exception, match=r"(?i)read-only|readonly"):
            async with read_only_session(db, checked=False) as session:
                await session.execute(statement)
    assert await _snapshot(db) == before
    with pytest.raises(Refused, match="Only SELECT statements run here"):
        async with read_only_session(db) as session:
            await session.execute(delete(AIRScore))
    # the pooled connection is writable again afterwards
    async with db.session() as session:
        assert await session.scalar(select(func.count(User.id))) == before[0]


PLUMBING = (
    types.ModuleType,
    types.FrameType,
    types.CodeType,
    Engine,
    Connection,
    Dialect,
    Session,
    AsyncEngine,
    AsyncConnection,
    AsyncSession,
)
# Methods learner code would call without arguments on what it is given.
CALLED = {"scalars", "mappings", "freeze", "unique", "tuples", "columns", "keys", "compile",
          "subquery", "cte", "alias", "selected_columns", "get_final_froms", "scalar_subquery",
          "label", "self_group", "exists", "all"}  # fmt: skip


def _allowed(name: str) -> bool:
    try:
        check_source(f"x.{name}", ["x"])
    except Refused:
        return False
    return True


def _reachable(roots: dict[str, object], depth: int) -> list[str]:
    """Attribute paths the policy allows (and no-argument calls of CALLED) from ``roots`` that
    end at a module, frame, engine, connection, dialect or session."""
    seen: set[int] = set()
    found: list[str] = []
    frontier = list(roots.items())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(depth):
            following: list[tuple[str, object]] = []
            for path, value in frontier:
                if id(value) in seen:
                    continue
                seen.add(id(value))
                if isinstance(value, PLUMBING):
                    found.append(f"{path} ({type(value).__name__})")
                    continue
                for name in dir(value):
                    if not _allowed(name):
                        continue
                    try:
                        static = inspect.getattr_static(value, name)
                        if not callable(static) or isinstance(static, property):
                            following.append((f"{path}.{name}", getattr(value, name)))
                        elif name in CALLED:
                            following.append((f"{path}.{name}()", getattr(value, name)()))
                    except Exception:  # an attribute that raises leads nowhere
                        continue
            frontier = following
    return found


async def test_no_allowed_attribute_path_leads_to_the_connection_or_a_module(
    db: Database,
) -> None:
    await ensure_exercise_rows(db, EXERCISE_USERS)
    async with read_only_session(db) as session:
        reader = ReadSession(session)
        statement = select(User).where(seeded_users(APPLY_MARKER)).limit(2)
        users = (await reader.execute(statement.options(selectinload(User.scores)))).scalars()
        roots: dict[str, object] = dict(tools())
        roots["session"] = reader
        roots["user"] = users.all()[0]
        roots["result"] = await reader.execute(select(User.email).limit(1))
        assert _reachable({"sentinel": types}, 1) == ["sentinel (module)"]  # the walk can fail
        assert _reachable(roots, 4) == []
