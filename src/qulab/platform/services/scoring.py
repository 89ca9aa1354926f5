"""The scoring service: load a person's inputs, apply the AI-R formula, store the score.

The formula itself is :mod:`qulab.platform.airscore`. ``calculate_score`` writes the score and its
``score.calculated`` event in one transaction: either both exist afterwards or neither does.
``calculate_and_store_airscore`` is the codelab's name for it, taking a database and raw values.
"""

from __future__ import annotations

from dataclasses import asdict

from qulab.core.db import Database
from qulab.platform.airscore import (
    DEFAULT_PARAMETERS,
    ScoringInputs,
    ScoringParameters,
    compute_air_score,
)
from qulab.platform.events import ScoreCalculated
from qulab.platform.models import AIRScore, AssessmentStatus
from qulab.platform.schemas import CalculateScore, ScoreRead, parse
from qulab.platform.uow import UnitOfWorkFactory, Work, uow_factory


async def _inputs_for(uow: Work, user_id: str) -> ScoringInputs:
    user = await uow.users.get(user_id)
    completed = [
        a
        for a in await uow.assessments.list(user_id)
        if a.status == AssessmentStatus.COMPLETED.value
    ]
    return ScoringInputs(
        years_experience=user.years_experience,
        education_level=user.education_level,
        abilities=tuple(a.current_ability for a in completed),
        items_administered=sum(a.items_administered for a in completed),
    )


async def calculate_score(
    command: CalculateScore,
    uow: UnitOfWorkFactory,
    *,
    parameters: ScoringParameters = DEFAULT_PARAMETERS,
) -> ScoreRead:
    """Compute a user's AI-R score and store it with its ``score.calculated`` event, atomically.

    Unknown user -> NotFound; inputs out of range -> InvalidInput; either way nothing is written.
    """
    user_id, code = command.user_id, command.occupation_code
    async with uow() as work:
        result = compute_air_score(await _inputs_for(work, user_id), code, parameters)
        score = await work.scores.add(
            AIRScore(user_id=user_id, occupation_code=code, **asdict(result))
        )
        read = ScoreRead.model_validate(score)
        work.record(
            ScoreCalculated(
                user_id=user_id,
                score_id=score.id,
                occupation_code=code,
                air_score=result.air_score,
                ci_lower=result.ci_lower,
                ci_upper=result.ci_upper,
                parameter_version=result.parameter_version,
            )
        )
        await work.commit()
    return read


async def calculate_and_store_airscore(
    db: Database,
    user_id: str,
    occupation_code: str = "SW_ENG",
    *,
    parameters: ScoringParameters = DEFAULT_PARAMETERS,
) -> ScoreRead:
    """The codelab's name: validate ``user_id`` and ``occupation_code`` into a command and run
    :func:`calculate_score` in a unit of work on ``db``."""
    command = parse(CalculateScore, user_id=user_id, occupation_code=occupation_code)
    return await calculate_score(command, uow_factory(db), parameters=parameters)
