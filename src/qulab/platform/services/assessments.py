"""Assessment services: starting one, and completing it with its ``assessment.completed`` event
in the same transaction. Inputs arrive validated (``StartAssessment``, ``CompleteAssessment``)."""

from __future__ import annotations

from qulab.core.errors import ConflictError
from qulab.platform.events import AssessmentCompleted
from qulab.platform.models import AssessmentStatus
from qulab.platform.schemas import AssessmentRead, CompleteAssessment, StartAssessment
from qulab.platform.uow import UnitOfWorkFactory


async def start_assessment(command: StartAssessment, uow: UnitOfWorkFactory) -> AssessmentRead:
    """Start an assessment for an existing user. Unknown user -> NotFound; nothing is written."""
    async with uow() as work:
        await work.users.get(command.user_id)
        assessment = await work.assessments.add(command.user_id, command.component)
        read = AssessmentRead.model_validate(assessment)
        await work.commit()
    return read


async def complete_assessment(
    command: CompleteAssessment, uow: UnitOfWorkFactory
) -> AssessmentRead:
    """Record the final ability estimate and emit ``assessment.completed``, atomically.

    Completing an assessment twice is a ConflictError; nothing is written.
    """
    async with uow() as work:
        current = await work.assessments.get(command.assessment_id)
        if current.status != AssessmentStatus.IN_PROGRESS.value:
            raise ConflictError(f"assessment {command.assessment_id} is already {current.status}")
        assessment = await work.assessments.complete(
            command.assessment_id, command.ability, command.items_administered
        )
        read = AssessmentRead.model_validate(assessment)
        work.record(
            AssessmentCompleted(
                assessment_id=assessment.id,
                user_id=assessment.user_id,
                component=assessment.component,
                ability=command.ability,
                items_administered=command.items_administered,
            )
        )
        await work.commit()
    return read
