"""The hot reads, lean: one Core ``SELECT`` straight into a frozen read model.

The cache loads a user by id and a user's latest AI-R score on every miss. Through the ORM each
load builds an entity, registers it in the session's identity map and copies it into a read
model. Here the statement is built once (bound parameters, so SQLAlchemy compiles it once) and
the row becomes the read model directly: no session, no identity map, one statement.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from qulab.core.db import Database
from qulab.core.ids import validate_id
from qulab.platform.models import AIRScore, User
from qulab.platform.schemas import ScoreRead, UserRead

_users = User.__table__
_scores = AIRScore.__table__

USER_BY_ID = select(_users).where(_users.c.id == bindparam("user_id"))
LATEST_SCORE = (
    select(_scores)
    .where(_scores.c.user_id == bindparam("user_id"))
    .order_by(_scores.c.created_at.desc(), _scores.c.id.desc())
    .limit(1)
)


async def user_by_id(conn: AsyncConnection, user_id: str) -> UserRead | None:
    """The user with ``user_id`` as a read model, or None."""
    found = await conn.execute(USER_BY_ID, {"user_id": validate_id(user_id, "user_id")})
    row = found.first()
    return None if row is None else UserRead.model_validate(row)


async def latest_score(conn: AsyncConnection, user_id: str) -> ScoreRead | None:
    """The user's newest score (the highest id breaks a tie in time) as a read model, or None."""
    found = await conn.execute(LATEST_SCORE, {"user_id": validate_id(user_id, "user_id")})
    row = found.first()
    return None if row is None else ScoreRead.model_validate(row)


async def read_user(db: Database, user_id: str) -> UserRead | None:
    """``user_by_id`` on a read connection of its own (the shape of a request)."""
    user_id = validate_id(user_id, "user_id")
    async with db.read_connection() as conn:
        return await user_by_id(conn, user_id)


async def read_latest_score(db: Database, user_id: str) -> ScoreRead | None:
    """``latest_score`` on a read connection of its own."""
    user_id = validate_id(user_id, "user_id")
    async with db.read_connection() as conn:
        return await latest_score(conn, user_id)
