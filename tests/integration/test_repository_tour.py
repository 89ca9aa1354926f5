"""Each repository method beside its SQL: counted, and rolled back so nothing stays."""

from __future__ import annotations

from sqlalchemy import func, select

from qulab.core.db import Database
from qulab.lab.repository_tour import STOP_NAMES, method_source, run_method
from qulab.platform.models import AIRScore, Assessment, User

EXPECTED = {
    "UserRepository.get": 1,
    "UserRepository.get_one_or_none": 1,
    "UserRepository.get_by_email": 1,
    "UserRepository.list": 1,
    "UserRepository.count": 1,
    "UserRepository.add": 1,
    "UserRepository.get_latest_score": 1,
    "UserRepository.get_user_with_scores_eager": 2,
    "UserRepository.get_all_users_with_scores_eager": 2,
    "ScoreRepository.add": 1,
    "ScoreRepository.get_latest_or_none": 1,
    "ScoreRepository.list": 1,
    "AssessmentRepository.add": 1,
    "AssessmentRepository.get": 1,
    "AssessmentRepository.list": 1,
    "AssessmentRepository.complete": 2,
    "UserRepository.update": 2,
}


async def _rows(db: Database) -> tuple[int, int, int]:
    async with db.session() as session:
        return (
            int(await session.scalar(select(func.count()).select_from(User)) or 0),
            int(await session.scalar(select(func.count()).select_from(AIRScore)) or 0),
            int(await session.scalar(select(func.count()).select_from(Assessment)) or 0),
        )


async def test_every_method_shows_its_source_and_the_sql_it_sent_and_leaves_nothing(
    db: Database,
) -> None:
    before = await _rows(db)
    for name in STOP_NAMES:
        run = await run_method(db, name)
        method = name.split(".")[1]
        assert f"def {method}(" in run.source
        assert run.statement_count == len(run.statements) >= 1
        if name in EXPECTED:
            assert run.statement_count == EXPECTED[name], (name, run.statements)
    assert await _rows(db) == before


async def test_the_sql_shown_is_the_sql_of_the_method(db: Database) -> None:
    delete = await run_method(db, "UserRepository.delete")
    assert any(statement.startswith("DELETE FROM users") for statement in delete.statements)
    eager = await run_method(db, "UserRepository.get_user_with_scores_eager")
    assert "FROM users" in eager.statements[0]
    assert "FROM air_scores" in eager.statements[1] and " IN (" in eager.statements[1]


def test_source_is_the_code_as_written() -> None:
    assert "selectinload(User.scores)" in method_source("UserRepository.get_user_with_scores_eager")
