"""User services against a fake unit of work: what they store, record and commit."""

from __future__ import annotations

import pytest

from qulab.core.errors import InvalidInput, NotFound
from qulab.platform.errors import DuplicateEmailError
from qulab.platform.events import UserCreated, UserDeleted, UserUpdated
from qulab.platform.schemas import DeleteUser, UpdateUser, UserCreate, parse
from qulab.platform.services.users import create_user, delete_user, update_user
from tests.unit.fake_uow import FakeFactory

MISSING = "00000000-0000-4000-8000-000000000009"


async def test_create_user_stores_the_user_records_created_and_commits() -> None:
    uow = FakeFactory()
    command = parse(UserCreate, email=" Ada@Example.COM ", name=" Ada ", years_experience=3)
    user = await create_user(command, uow)
    stored = uow.store.users[user.id]
    assert (stored.email, stored.name, stored.years_experience) == ("ada@example.com", "Ada", 3.0)
    assert (user.email, user.name) == ("ada@example.com", "Ada")
    assert uow.store.events == [UserCreated(user.id, "ada@example.com", "Ada")]
    assert uow.committed is True
    assert len(uow.units) == 1


async def test_create_user_takes_the_command_as_validated_and_does_not_parse_again() -> None:
    uow = FakeFactory()
    unchecked = UserCreate.model_construct(email="Kept@As.Given", name="Kept")
    user = await create_user(unchecked, uow)
    assert uow.store.users[user.id].email == "Kept@As.Given"


async def test_a_taken_email_raises_and_stores_and_records_nothing() -> None:
    uow = FakeFactory()
    first = await create_user(parse(UserCreate, email="dup@example.com", name="First"), uow)
    with pytest.raises(DuplicateEmailError):
        await create_user(parse(UserCreate, email="dup@example.com", name="Second"), uow)
    assert list(uow.store.users) == [first.id]
    assert [type(event) for event in uow.store.events] == [UserCreated]
    assert [unit.committed for unit in uow.units] == [True, False]


async def test_update_user_changes_only_the_given_fields_and_records_them() -> None:
    uow = FakeFactory()
    user = await create_user(parse(UserCreate, email="bo@example.com", name="Bo"), uow)
    updated = await update_user(parse(UpdateUser, user_id=user.id, occupation_code="PM"), uow)
    stored = uow.store.users[user.id]
    assert (stored.name, stored.occupation_code) == ("Bo", "PM")
    assert updated.occupation_code == "PM"
    assert uow.store.events[-1] == UserUpdated(user.id, {"occupation_code": "PM"})
    assert uow.units[-1].committed is True


async def test_an_update_without_changes_commits_no_event() -> None:
    uow = FakeFactory()
    user = await create_user(parse(UserCreate, email="same@example.com", name="Same"), uow)
    await update_user(parse(UpdateUser, user_id=user.id), uow)
    assert [type(event) for event in uow.store.events] == [UserCreated]


async def test_update_of_an_unknown_user_is_not_found_and_commits_nothing() -> None:
    uow = FakeFactory()
    with pytest.raises(NotFound, match=f"user {MISSING} not found"):
        await update_user(parse(UpdateUser, user_id=MISSING, name="X"), uow)
    assert uow.store.users == {} and uow.store.events == []
    assert uow.units[0].committed is False


async def test_delete_user_removes_the_user_and_records_deleted() -> None:
    uow = FakeFactory()
    user = await create_user(parse(UserCreate, email="gone@example.com", name="Gone"), uow)
    deleted = await delete_user(parse(DeleteUser, user_id=user.id), uow)
    assert deleted.id == user.id
    assert uow.store.users == {}
    assert uow.store.events[-1] == UserDeleted(user.id, "gone@example.com", "Gone")
    assert uow.units[-1].committed is True


async def test_delete_of_an_unknown_user_is_not_found_and_commits_nothing() -> None:
    uow = FakeFactory()
    with pytest.raises(NotFound):
        await delete_user(parse(DeleteUser, user_id=MISSING), uow)
    assert uow.store.events == [] and uow.units[0].committed is False


@pytest.mark.parametrize(
    ("command", "values", "field"),
    [
        (UpdateUser, {"user_id": "nope", "name": "X"}, "user_id"),
        (UpdateUser, {"user_id": MISSING, "name": "  "}, "name"),
        (UpdateUser, {"user_id": MISSING, "years_experience": 81}, "years_experience"),
        (UpdateUser, {"user_id": MISSING, "email": "x@example.com"}, "email"),
        (DeleteUser, {"user_id": ""}, "user_id"),
        (DeleteUser, {"user_id": 7}, "user_id"),
    ],
)
def test_a_bad_command_is_refused_naming_the_field(
    command: type[UpdateUser] | type[DeleteUser], values: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse(command, **values)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}:")


def test_the_update_command_carries_the_canonical_id_and_not_in_its_changes() -> None:
    command = parse(UpdateUser, user_id=MISSING.upper(), name="N")
    assert command.user_id == MISSING
    assert command.changes() == {"name": "N"}
