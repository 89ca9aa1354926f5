"""Assessment services: starting one, and completing it with its ``assessment.completed`` event
in the same transaction."""

from __future__ import annotations

import math

from qulab.db import Database
from qulab.errors import ConflictError, InvalidInput
from qulab.events import AssessmentCompleted
from qulab.models import AssessmentStatus
from qulab.schemas import AssessmentRead, validate_id
from qulab.uow import UnitOfWork

COMPONENT_MAX = 50
ABILITY_LIMIT = 10.0
ITEMS_MAX = 10_000


def _component(value: str) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidInput("component", "must not be blank")
    if len(text) > COMPONENT_MAX:
        raise InvalidInput("component", f"must be at most {COMPONENT_MAX} characters")
    return text


async def start_assessment(db: Database, user_id: str, component: str) -> AssessmentRead:
    user_id = validate_id(user_id, "user_id")
    name = _component(component)
    async with UnitOfWork(db) as uow:
        await uow.users.get(user_id)
        assessment = await uow.assessments.add(user_id, name)
        read = AssessmentRead.model_validate(assessment)
        await uow.commit()
    return read


async def complete_assessment(
    db: Database, assessment_id: str, ability: float, items_administered: int
) -> AssessmentRead:
    """Record the final ability estimate and emit ``assessment.completed``, atomically.

    Completing an assessment twice is a ConflictError; nothing is written.
    """
    assessment_id = validate_id(assessment_id, "assessment_id")
    if not math.isfinite(ability) or abs(ability) > ABILITY_LIMIT:
        raise InvalidInput(
            "ability", f"must be a finite number in [-{ABILITY_LIMIT:g}, {ABILITY_LIMIT:g}]"
        )
    if not 0 <= items_administered <= ITEMS_MAX:
        raise InvalidInput("items_administered", f"must be between 0 and {ITEMS_MAX}")
    async with UnitOfWork(db) as uow:
        current = await uow.assessments.get(assessment_id)
        if current.status != AssessmentStatus.IN_PROGRESS.value:
            raise ConflictError(f"assessment {assessment_id} is already {current.status}")
        assessment = await uow.assessments.complete(assessment_id, ability, items_administered)
        read = AssessmentRead.model_validate(assessment)
        uow.record(
            AssessmentCompleted(
                assessment_id=assessment.id,
                user_id=assessment.user_id,
                component=assessment.component,
                ability=ability,
                items_administered=items_administered,
            )
        )
        await uow.commit()
    return read
