"""User services: each call is one unit of work that commits its change and its domain event.

Reads (``get_user``, ``list_users``) live on the read side, :mod:`qulab.views`.
"""

from __future__ import annotations

from typing import Any

from qulab.db import Database
from qulab.events import UserCreated, UserDeleted, UserUpdated
from qulab.schemas import UserCreate, UserRead, UserUpdate, parse, validate_id
from qulab.uow import UnitOfWork


async def create_user(db: Database, **fields: Any) -> UserRead:
    """Create a user and a ``user.created`` event atomically. Bad input writes nothing."""
    data = parse(UserCreate, **fields)
    async with UnitOfWork(db) as uow:
        user = await uow.users.add(data)
        read = UserRead.model_validate(user)
        uow.record(UserCreated(user.id, user.email, user.name))
        await uow.commit()
    return read


async def update_user(db: Database, user_id: str, **fields: Any) -> UserRead:
    """Apply a partial update and emit ``user.updated`` with the changed fields."""
    user_id = validate_id(user_id, "user_id")
    changes = parse(UserUpdate, **fields)
    async with UnitOfWork(db) as uow:
        user = await uow.users.update(user_id, changes)
        read = UserRead.model_validate(user)
        if changes.changes():
            uow.record(UserUpdated(user.id, changes.changes()))
        await uow.commit()
    return read


async def delete_user(db: Database, user_id: str) -> UserRead:
    """Delete a user with their assessments and scores, and emit ``user.deleted``, atomically.

    Returns the user as they were. Unknown user -> NotFound; nothing is written.
    """
    user_id = validate_id(user_id, "user_id")
    async with UnitOfWork(db) as uow:
        user = await uow.users.delete(user_id)
        read = UserRead.model_validate(user)
        uow.record(UserDeleted(user.id, user.email, user.name))
        await uow.commit()
    return read
