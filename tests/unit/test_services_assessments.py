"""Assessment services against a fake unit of work."""

from __future__ import annotations

import math

import pytest

from qulab.core.errors import ConflictError, InvalidInput, NotFound
from qulab.platform.events import AssessmentCompleted, UserCreated
from qulab.platform.schemas import CompleteAssessment, StartAssessment, UserCreate, parse
from qulab.platform.services.assessments import complete_assessment, start_assessment
from qulab.platform.services.users import create_user
from tests.unit.fake_uow import FakeFactory

MISSING = "00000000-0000-4000-8000-000000000009"


async def _user(uow: FakeFactory) -> str:
    return (await create_user(parse(UserCreate, email="a@example.com", name="A"), uow)).id


async def test_start_stores_an_in_progress_assessment_without_an_event() -> None:
    uow = FakeFactory()
    user_id = await _user(uow)
    started = await start_assessment(
        parse(StartAssessment, user_id=user_id, component=" fluency "), uow
    )
    stored = uow.store.assessments[started.id]
    assert (stored.user_id, stored.component, stored.status) == (user_id, "fluency", "in_progress")
    assert [type(event) for event in uow.store.events] == [UserCreated]
    assert uow.units[-1].committed is True


async def test_start_for_an_unknown_user_is_not_found_and_stores_nothing() -> None:
    uow = FakeFactory()
    with pytest.raises(NotFound):
        await start_assessment(parse(StartAssessment, user_id=MISSING, component="x"), uow)
    assert uow.store.assessments == {} and uow.units[0].committed is False


async def test_complete_stores_the_estimate_and_records_completed() -> None:
    uow = FakeFactory()
    user_id = await _user(uow)
    started = await start_assessment(parse(StartAssessment, user_id=user_id, component="f"), uow)
    command = parse(
        CompleteAssessment, assessment_id=started.id, ability=1.25, items_administered=30
    )
    done = await complete_assessment(command, uow)
    stored = uow.store.assessments[started.id]
    assert (stored.status, stored.current_ability, stored.items_administered) == (
        "completed",
        1.25,
        30,
    )
    assert done.status == "completed"
    assert uow.store.events[-1] == AssessmentCompleted(started.id, user_id, "f", 1.25, 30)


async def test_completing_twice_is_a_conflict_that_changes_nothing() -> None:
    uow = FakeFactory()
    user_id = await _user(uow)
    started = await start_assessment(parse(StartAssessment, user_id=user_id, component="f"), uow)
    first = parse(CompleteAssessment, assessment_id=started.id, ability=0.5, items_administered=3)
    await complete_assessment(first, uow)
    again = parse(CompleteAssessment, assessment_id=started.id, ability=2.0, items_administered=9)
    with pytest.raises(ConflictError, match="already completed"):
        await complete_assessment(again, uow)
    stored = uow.store.assessments[started.id]
    assert (stored.current_ability, stored.items_administered) == (0.5, 3)
    assert sum(isinstance(event, AssessmentCompleted) for event in uow.store.events) == 1
    assert uow.units[-1].committed is False


@pytest.mark.parametrize(
    ("command", "values", "field"),
    [
        (StartAssessment, {"user_id": "bad", "component": "f"}, "user_id"),
        (StartAssessment, {"user_id": MISSING, "component": "  "}, "component"),
        (StartAssessment, {"user_id": MISSING, "component": "c" * 51}, "component"),
        (
            CompleteAssessment,
            {"assessment_id": "x", "ability": 0, "items_administered": 0},
            "assessment_id",
        ),
        (
            CompleteAssessment,
            {"assessment_id": MISSING, "ability": math.nan, "items_administered": 0},
            "ability",
        ),
        (
            CompleteAssessment,
            {"assessment_id": MISSING, "ability": 10.5, "items_administered": 0},
            "ability",
        ),
        (
            CompleteAssessment,
            {"assessment_id": MISSING, "ability": 0, "items_administered": -1},
            "items_administered",
        ),
        (
            CompleteAssessment,
            {"assessment_id": MISSING, "ability": 0, "items_administered": 10_001},
            "items_administered",
        ),
        (
            CompleteAssessment,
            {"assessment_id": MISSING, "ability": "high", "items_administered": 1},
            "ability",
        ),
        (
            CompleteAssessment,
            {"assessment_id": MISSING, "ability": 0, "items_administered": 1.5},
            "items_administered",
        ),
    ],
)
def test_a_bad_command_is_refused_naming_the_field(
    command: type[StartAssessment] | type[CompleteAssessment],
    values: dict[str, object],
    field: str,
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse(command, **values)
    assert caught.value.field == field
