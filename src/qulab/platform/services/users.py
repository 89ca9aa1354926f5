"""User services: each call takes a validated command and a unit-of-work factory, and commits
its change with its domain event in one unit of work.

Reads (``get_user``, ``list_users``) live on the read side, :mod:`qulab.platform.views`.
"""

from __future__ import annotations

from qulab.platform.events import UserCreated, UserDeleted, UserUpdated
from qulab.platform.schemas import DeleteUser, UpdateUser, UserCreate, UserRead
from qulab.platform.uow import UnitOfWorkFactory


async def create_user(command: UserCreate, uow: UnitOfWorkFactory) -> UserRead:
    """Create a user and a ``user.created`` event atomically. A taken email writes nothing."""
    async with uow() as work:
        user = await work.users.add(command)
        read = UserRead.model_validate(user)
        work.record(UserCreated(user.id, user.email, user.name))
        await work.commit()
    return read


async def update_user(command: UpdateUser, uow: UnitOfWorkFactory) -> UserRead:
    """Apply a partial update and emit ``user.updated`` with the changed fields (none: no event)."""
    changes = command.changes()
    async with uow() as work:
        user = await work.users.update(command.user_id, command)
        read = UserRead.model_validate(user)
        if changes:
            work.record(UserUpdated(user.id, changes))
        await work.commit()
    return read


async def delete_user(command: DeleteUser, uow: UnitOfWorkFactory) -> UserRead:
    """Delete a user with their assessments and scores, and emit ``user.deleted``, atomically.

    Returns the user as they were. Unknown user -> NotFound; nothing is written.
    """
    async with uow() as work:
        user = await work.users.delete(command.user_id)
        read = UserRead.model_validate(user)
        work.record(UserDeleted(user.id, user.email, user.name))
        await work.commit()
    return read
