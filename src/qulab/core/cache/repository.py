"""``CachedUserRepository``: the read-through repository of the codelab, on the real cache.

It returns read models (never ORM instances) and remembers how the last read was served
(``last_result``: HIT, MISS or BYPASS and its time) so callers can show what the cache did.
A miss loads through ``qulab.platform.read_models`` on the session's connection: one Core
statement straight into the read model, no ORM entity in between.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from qulab.core.cache.core import Cache, CacheResult
from qulab.core.db import Database
from qulab.platform import read_models
from qulab.platform.schemas import ScoreRead, UserRead, validate_id


class CachedUserRepository:
    def __init__(self, session: AsyncSession, cache: Cache) -> None:
        self.session = session
        self.cache = cache
        self.last_result: CacheResult[UserRead] | CacheResult[ScoreRead] | None = None

    async def fetch_user(self, user_id: str) -> CacheResult[UserRead]:
        user_id = validate_id(user_id, "user_id")

        async def load() -> UserRead | None:
            return await read_models.user_by_id(await self.session.connection(), user_id)

        result = await self.cache.read_through(self.cache.users, user_id, load)
        self.last_result = result
        return result

    async def fetch_latest_score(self, user_id: str) -> CacheResult[ScoreRead]:
        user_id = validate_id(user_id, "user_id")

        async def load() -> ScoreRead | None:
            return await read_models.latest_score(await self.session.connection(), user_id)

        result = await self.cache.read_through(self.cache.scores, user_id, load)
        self.last_result = result
        return result

    async def get_by_id_cached(self, user_id: str) -> UserRead | None:
        """Seed name (see ``qulab.seed_names``): the value ``fetch_user`` found."""
        return (await self.fetch_user(user_id)).value

    async def get_latest_score_cached(self, user_id: str) -> ScoreRead | None:
        """Seed name (see ``qulab.seed_names``): the value ``fetch_latest_score`` found."""
        return (await self.fetch_latest_score(user_id)).value

    async def invalidate_user_cache(self, user_id: str) -> None:
        """Drop the user's cached entries now (writes through the unit of work do this by
        themselves after they commit)."""
        await self.cache.invalidate_user(validate_id(user_id, "user_id"))


async def read_user_cached(db: Database, cache: Cache, user_id: str) -> CacheResult[UserRead]:
    """One cached user read in a read session of its own (the shape of a request)."""
    async with db.reading() as session:
        return await CachedUserRepository(session, cache).fetch_user(user_id)


async def read_latest_score_cached(
    db: Database, cache: Cache, user_id: str
) -> CacheResult[ScoreRead]:
    """One cached latest-score read in a read session of its own."""
    async with db.reading() as session:
        return await CachedUserRepository(session, cache).fetch_latest_score(user_id)
