"""Small reads the pages show. State lives in the database, so a restarted server sees it."""

from __future__ import annotations

from sqlalchemy import func, select

from qulab.db import Database
from qulab.lab import DEMO_USERS
from qulab.models import User
from qulab.repositories import UserRepository
from qulab.schemas import UserRead


async def demo_users(db: Database) -> dict[str, UserRead | None]:
    """Alex and Jane (by email, as created by the setup step), or None where absent."""
    found: dict[str, UserRead | None] = {}
    async with db.session() as session:
        repo = UserRepository(session)
        for email, *_ in DEMO_USERS:
            user = await repo.get_by_email(email)
            found[email] = UserRead.model_validate(user) if user is not None else None
    return found


async def user_count(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def find_user(db: Database, user_id: str) -> UserRead | None:
    async with db.session() as session:
        user = await UserRepository(session).get_by_id(user_id)
        return UserRead.model_validate(user) if user is not None else None
