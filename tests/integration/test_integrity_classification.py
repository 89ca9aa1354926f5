"""Integrity errors are read by constraint and SQLSTATE, never by searching the message text."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from qulab.core.db import Database
from qulab.core.errors import ConflictError
from qulab.platform.errors import DuplicateEmailError
from qulab.platform.models import User
from qulab.platform.schemas import UserCreate, parse
from qulab.platform.uow import PlatformUnitOfWork

TAKEN_ID = "email-already-used-as-an-id"


async def test_a_taken_id_mentioning_email_is_a_conflict_not_a_duplicate_email(
    db: Database,
) -> None:
    async with PlatformUnitOfWork(db) as uow:
        await uow.users.add(User(id=TAKEN_ID, email="first@example.com", name="First"))
        await uow.commit()
    with pytest.raises(ConflictError) as caught:
        async with PlatformUnitOfWork(db) as uow:
            await uow.users.add(User(id=TAKEN_ID, email="second@example.com", name="Second"))
    assert not isinstance(caught.value, DuplicateEmailError)
    assert str(caught.value).startswith("user could not be created: ")
    async with db.reading() as session:
        emails = (await session.execute(select(User.email))).scalars().all()
    assert emails == ["first@example.com"]


async def test_a_taken_email_is_a_duplicate_email_and_nothing_is_written(db: Database) -> None:
    async with PlatformUnitOfWork(db) as uow:
        await uow.users.add(User(email="same@example.com", name="One"))
        await uow.commit()
    with pytest.raises(DuplicateEmailError, match=r"same@example\.com already exists"):
        async with PlatformUnitOfWork(db) as uow:
            await uow.users.add(parse(UserCreate, email="SAME@example.com", name="Two"))
    async with db.reading() as session:
        assert (await session.execute(select(func.count(User.id)))).scalar_one() == 1
