"""The scoring service against a fake unit of work: it stores what the pure formula computes."""

from __future__ import annotations

import pytest

from qulab.core.errors import InvalidInput, NotFound
from qulab.platform.airscore import ScoringInputs, compute_air_score
from qulab.platform.events import ScoreCalculated
from qulab.platform.schemas import (
    CalculateScore,
    CompleteAssessment,
    StartAssessment,
    UserCreate,
    parse,
)
from qulab.platform.services.assessments import complete_assessment, start_assessment
from qulab.platform.services.scoring import calculate_score
from qulab.platform.services.users import create_user
from tests.unit.fake_uow import FakeFactory

MISSING = "00000000-0000-4000-8000-000000000009"


async def test_the_stored_score_is_the_formula_over_the_users_completed_assessments() -> None:
    uow = FakeFactory()
    user = await create_user(
        parse(
            UserCreate,
            email="s@example.com",
            name="S",
            education_level="PhD",
            years_experience=5,
        ),
        uow,
    )
    for ability, items in ((0.4, 10), (1.2, 30)):
        started = await start_assessment(
            parse(StartAssessment, user_id=user.id, component="f"), uow
        )
        await complete_assessment(
            parse(
                CompleteAssessment,
                assessment_id=started.id,
                ability=ability,
                items_administered=items,
            ),
            uow,
        )
    await start_assessment(parse(StartAssessment, user_id=user.id, component="open"), uow)

    score = await calculate_score(parse(CalculateScore, user_id=user.id, occupation_code="PM"), uow)

    expected = compute_air_score(ScoringInputs(5.0, "PhD", (0.4, 1.2), 40), "PM")
    stored = uow.store.scores[score.id]
    assert (stored.user_id, stored.occupation_code) == (user.id, "PM")
    assert (stored.air_score, stored.ci_lower, stored.ci_upper) == (
        expected.air_score,
        expected.ci_lower,
        expected.ci_upper,
    )
    assert stored.calculation_metadata == expected.calculation_metadata
    assert uow.store.events[-1] == ScoreCalculated(
        user_id=user.id,
        score_id=score.id,
        occupation_code="PM",
        air_score=expected.air_score,
        ci_lower=expected.ci_lower,
        ci_upper=expected.ci_upper,
        parameter_version=expected.parameter_version,
    )
    assert uow.units[-1].committed is True


async def test_a_score_for_an_unknown_user_is_not_found_and_stores_nothing() -> None:
    uow = FakeFactory()
    with pytest.raises(NotFound, match=f"user {MISSING} not found"):
        await calculate_score(parse(CalculateScore, user_id=MISSING), uow)
    assert uow.store.scores == {} and uow.store.events == []
    assert uow.units[0].committed is False


def test_the_command_defaults_to_sw_eng_and_names_a_bad_field() -> None:
    assert parse(CalculateScore, user_id=MISSING).occupation_code == "SW_ENG"
    for values, field in (
        ({"user_id": "nope"}, "user_id"),
        ({"user_id": MISSING, "occupation_code": " "}, "occupation_code"),
        ({"user_id": MISSING, "occupation_code": "X" * 21}, "occupation_code"),
    ):
        with pytest.raises(InvalidInput) as caught:
            parse(CalculateScore, **values)
        assert caught.value.field == field


def test_the_formula_module_needs_no_database() -> None:
    import subprocess
    import sys

    code = (
        "import sys, qulab.platform.airscore; "
        "bad = [m for m in sys.modules if m.split('.')[0] in {'sqlalchemy', 'asyncpg'} "
        "or m in {'qulab.core.db', 'qulab.core.uow', 'qulab.platform.models'}]; print(bad)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
