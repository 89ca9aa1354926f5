"""Every bad input is refused with InvalidInput naming the field, and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from qulab.core.db import Database
from qulab.core.errors import InvalidInput
from qulab.core.models import DomainEvent
from qulab.lab import create_sample_airscore
from qulab.platform.models import AIRScore, User
from tests.service_calls import create_user, delete_user, update_user

VALID: dict[str, Any] = {"email": "valid@example.com", "name": "Valid Name"}

BAD_CREATE = [
    ({"email": "not-an-email"}, "email"),
    ({"email": "a@b"}, "email"),
    ({"email": ""}, "email"),
    ({"email": "x" * 250 + "@example.com"}, "email"),
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "n" * 256}, "name"),
    ({"occupation_code": "O" * 21}, "occupation_code"),
    ({"education_level": "E" * 51}, "education_level"),
    ({"years_experience": -1}, "years_experience"),
    ({"years_experience": 80.5}, "years_experience"),
    ({"years_experience": "many"}, "years_experience"),
    ({"unexpected": "field"}, "unexpected"),
]


async def row_counts(db: Database) -> tuple[int, int, int]:
    async with db.session() as session:
        counts = [
            int((await session.execute(select(func.count()).select_from(m))).scalar_one())
            for m in (User, AIRScore, DomainEvent)
        ]
    return counts[0], counts[1], counts[2]


@pytest.mark.parametrize(("override", "field"), BAD_CREATE)
async def test_bad_create_input_names_the_field_and_writes_nothing(
    db: Database, override: dict[str, Any], field: str
) -> None:
    before = await row_counts(db)
    with pytest.raises(InvalidInput) as caught:
        await create_user(db, **(VALID | override))
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}:")
    assert await row_counts(db) == before


async def test_boundary_values_are_accepted(db: Database) -> None:
    user = await create_user(
        db,
        email="e" * 64 + "@example.com",
        name="n" * 255,
        occupation_code="O" * 20,
        education_level="E" * 50,
        years_experience=80,
    )
    assert len(user.name) == 255 and user.years_experience == 80


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "n" * 256}, "name"),
        ({"occupation_code": "O" * 21}, "occupation_code"),
        ({"years_experience": 81}, "years_experience"),
    ],
)
async def test_bad_update_input_changes_nothing(
    db: Database, override: dict[str, Any], field: str
) -> None:
    user = await create_user(db, **VALID)
    before = await row_counts(db)
    with pytest.raises(InvalidInput) as caught:
        await update_user(db, user.id, **override)
    assert caught.value.field == field
    async with db.session() as session:
        stored = await session.get(User, user.id)
    assert stored is not None and stored.name == VALID["name"]
    assert await row_counts(db) == before


@pytest.mark.parametrize("bad_id", ["nope", "", "1234", "00000000-0000-0000-0000-00000000000g"])
async def test_malformed_ids_are_refused_before_any_sql(db: Database, bad_id: str) -> None:
    with db.count_statements() as counter:
        for call in (
            update_user(db, bad_id, name="x"),
            delete_user(db, bad_id),
            create_sample_airscore(bad_id, db=db),
        ):
            with pytest.raises(InvalidInput, match="user_id"):
                await call
    assert counter.count == 0


async def test_sample_score_for_unknown_user_writes_nothing(db: Database) -> None:
    from qulab.core.errors import NotFound

    with pytest.raises(NotFound):
        await create_sample_airscore("00000000-0000-4000-8000-000000000001", db=db)
    with pytest.raises(InvalidInput, match="occupation_code"):
        await create_sample_airscore(
            "00000000-0000-4000-8000-000000000001", occupation_code="X" * 21, db=db
        )
    assert await row_counts(db) == (0, 0, 0)
