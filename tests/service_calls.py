"""The services called the way a boundary calls them: raw values validated into a command once,
and a unit-of-work factory on ``db``. Tests use these to write through the real services."""

from __future__ import annotations

from typing import Any

from qulab.core.db import Database
from qulab.platform.schemas import (
    AssessmentRead,
    CompleteAssessment,
    DeleteUser,
    StartAssessment,
    UpdateUser,
    UserCreate,
    UserRead,
    parse,
)
from qulab.platform.services import assessments, users
from qulab.platform.uow import uow_factory


async def create_user(db: Database, **fields: Any) -> UserRead:
    return await users.create_user(parse(UserCreate, **fields), uow_factory(db))


async def update_user(db: Database, user_id: str, **fields: Any) -> UserRead:
    return await users.update_user(parse(UpdateUser, user_id=user_id, **fields), uow_factory(db))


async def delete_user(db: Database, user_id: str) -> UserRead:
    return await users.delete_user(parse(DeleteUser, user_id=user_id), uow_factory(db))


async def start_assessment(db: Database, user_id: str, component: str) -> AssessmentRead:
    command = parse(StartAssessment, user_id=user_id, component=component)
    return await assessments.start_assessment(command, uow_factory(db))


async def complete_assessment(
    db: Database, assessment_id: str, ability: float, items_administered: int
) -> AssessmentRead:
    command = parse(
        CompleteAssessment,
        assessment_id=assessment_id,
        ability=ability,
        items_administered=items_administered,
    )
    return await assessments.complete_assessment(command, uow_factory(db))
