"""The platform's cached reads: its two key families and ``CachedUserRepository``.

``user:{id}`` holds a user and ``latest_airscore:{user_id}`` a user's newest score; both are
keyed by the user's id, and an event that names users in ``affected_users`` makes both stale.
``CachedUserRepository`` is the read-through repository of the codelab, on the real cache.

It returns read models (never ORM instances) and remembers how the last read was served
(``last_result``: HIT, MISS or BYPASS and its time) so callers can show what the cache did.
A miss loads through ``qulab.platform.read_models`` on the session's connection: one Core
statement straight into the read model, no ORM entity in between.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from qulab.core.cache import Cache, CacheResult, Family, Stale
from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.core.events import Event
from qulab.core.ids import validate_id
from qulab.platform import read_models
from qulab.platform.events import PlatformEvent, UserDeleted, UsersRemoved, affected_users
from qulab.platform.schemas import ScoreRead, UserRead
from qulab.platform.settings import PlatformCacheSettings

USER = "user"
LATEST_SCORE = "latest_airscore"


def families(settings: Settings) -> tuple[Family[UserRead], Family[ScoreRead]]:
    """The platform's key families, with the TTLs ``settings`` give them."""
    stale: dict[type[Event], Stale] = {PlatformEvent: affected_users}
    # Deleted users are not read again: their generations expire with their entries.
    removed: dict[type[Event], Stale] = {UserDeleted: affected_users, UsersRemoved: affected_users}
    ttl = settings.group(PlatformCacheSettings)
    return (
        Family(USER, UserRead, ttl.user_ttl, stale, removed),
        Family(LATEST_SCORE, ScoreRead, ttl.score_ttl, stale, removed),
    )


def user_family(cache: Cache) -> Family[UserRead]:
    return cache.family(USER, UserRead)


def score_family(cache: Cache) -> Family[ScoreRead]:
    return cache.family(LATEST_SCORE, ScoreRead)


def user_keys(cache: Cache, user_id: str) -> list[str]:
    """Every cache key that holds something of ``user_id``'s."""
    return cache.keys_of(user_id)


async def invalidate_user(cache: Cache, user_id: str) -> None:
    """Drop every cached entry of ``user_id`` now (a commit through the unit of work does this
    by itself)."""
    await cache.invalidate_keys(cache.keys_of(user_id))


class CachedUserRepository:
    def __init__(self, session: AsyncSession, cache: Cache) -> None:
        self.session = session
        self.cache = cache
        self.last_result: CacheResult[UserRead] | CacheResult[ScoreRead] | None = None

    async def fetch_user(self, user_id: str) -> CacheResult[UserRead]:
        user_id = validate_id(user_id, "user_id")

        async def load() -> UserRead | None:
            return await read_models.user_by_id(await self.session.connection(), user_id)

        result = await self.cache.read_through(user_family(self.cache), user_id, load)
        self.last_result = result
        return result

    async def fetch_latest_score(self, user_id: str) -> CacheResult[ScoreRead]:
        user_id = validate_id(user_id, "user_id")

        async def load() -> ScoreRead | None:
            return await read_models.latest_score(await self.session.connection(), user_id)

        result = await self.cache.read_through(score_family(self.cache), user_id, load)
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
        await invalidate_user(self.cache, validate_id(user_id, "user_id"))


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
