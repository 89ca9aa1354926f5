"""The contenders of the ``peers`` benchmark behind one shape: read a user through the cache,
forget a user, close. QuLab's cache, cashews and aiocache, each configured as its documentation
suggests for a read-through cache with stampede protection, on the same Redis, the same read
model and the same loader. Also a counter of the Redis commands the clients send."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson
from redis.asyncio.connection import AbstractConnection

from qulab.core.cache import Cache, CircuitBreaker, MemoryBackend, RedisBackend
from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.platform.cache import families, invalidate_user, user_family
from qulab.platform.repositories import UserRepository
from qulab.platform.schemas import UserRead

PEERS = ("cashews", "aiocache")
TTL_SECONDS = 3600


def missing_peers() -> list[str]:
    return [name for name in PEERS if importlib.util.find_spec(name) is None]


class Loader:
    """The database load every contender uses: the row in a session of its own, as a read model.
    Counts loads; when ``hold`` is set, the next load waits on it after reading the row."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.loads = 0
        self.hold: asyncio.Event | None = None
        self.held = asyncio.Event()

    async def __call__(self, user_id: str) -> UserRead | None:
        self.loads += 1
        async with self.db.session() as session:
            found = await UserRepository(session).get_one_or_none(user_id)
            value = None if found is None else UserRead.model_validate(found)
        hold, self.hold = self.hold, None
        if hold is not None:
            self.held.set()
            await hold.wait()
        return value


class Contender(Protocol):
    name: str

    async def read(self, user_id: str) -> UserRead | None: ...

    async def forget(self, user_id: str) -> None: ...

    async def close(self) -> None: ...


class QuLabContender:
    def __init__(self, name: str, loader: Loader, prefix: str, redis_url: str | None) -> None:
        self.name = name
        backend = MemoryBackend() if redis_url is None else RedisBackend(redis_url)
        self.cache = Cache(
            backend,
            families=families(Settings()),
            prefix=prefix,
            breaker=CircuitBreaker(f"bench {name}"),
        )
        self.loader = loader

    async def read(self, user_id: str) -> UserRead | None:
        loader = self.loader
        return (
            await self.cache.read_through(user_family(self.cache), user_id, lambda: loader(user_id))
        ).value

    async def forget(self, user_id: str) -> None:
        await invalidate_user(self.cache, user_id)

    async def close(self) -> None:
        await self.cache.close()


class CashewsContender:
    """``@cache(ttl, key=...)``: cashews' default, with its in-process thunder protection."""

    def __init__(self, name: str, loader: Loader, prefix: str, redis_url: str | None) -> None:
        from cashews import Cache as CashewsCache

        self.name = name
        self.cache = CashewsCache()
        self.cache.setup(redis_url or "mem://")
        self.prefix = prefix
        key = prefix + "user:{user_id}"

        @self.cache(ttl=TTL_SECONDS, key=key)  # type: ignore[untyped-decorator]
        async def get_user(user_id: str) -> UserRead | None:
            return await loader(user_id)

        self._get = get_user

    async def read(self, user_id: str) -> UserRead | None:
        value: UserRead | None = await self._get(user_id)
        return value

    async def forget(self, user_id: str) -> None:
        await self.cache.delete(f"{self.prefix}user:{user_id}")

    async def close(self) -> None:
        await self.cache.close()


class _ModelSerializer:
    """aiocache serializer doing what QuLab's codec does: orjson of the read model."""

    DEFAULT_ENCODING = None
    encoding = None

    def dumps(self, value: UserRead) -> bytes:
        return orjson.dumps(value.model_dump(mode="json"))

    def loads(self, value: bytes | None) -> UserRead | None:
        return None if value is None else UserRead.model_validate(orjson.loads(value))


class AiocacheContender:
    """``@cached_stampede`` (a Redis lock around the load) on Redis, ``@cached`` in process."""

    def __init__(self, name: str, loader: Loader, prefix: str, redis_url: str | None) -> None:
        from aiocache import Cache as AioCache
        from aiocache import cached, cached_stampede

        self.name = name
        options: dict[str, Any] = {
            "ttl": TTL_SECONDS,
            "key_builder": lambda _f, user_id: f"user:{user_id}",
            "namespace": prefix.rstrip(":"),
            "serializer": _ModelSerializer(),
        }
        decorator: Any
        if redis_url is None:
            decorator = cached(cache=AioCache.MEMORY, **options)
        else:
            url = urlsplit(redis_url)
            options |= {
                "endpoint": url.hostname or "127.0.0.1",
                "port": url.port or 6379,
                "db": int(url.path.lstrip("/") or 0),
                "pool_max_size": 256,  # a herd of 200 would exhaust its default pool
            }
            decorator = cached_stampede(lease=2, cache=AioCache.REDIS, **options)

        @decorator  # type: ignore[untyped-decorator]
        async def get_user(user_id: str) -> UserRead | None:
            return await loader(user_id)

        self._get = get_user
        self.cache = get_user.cache

    async def read(self, user_id: str) -> UserRead | None:
        value: UserRead | None = await self._get(user_id)
        return value

    async def forget(self, user_id: str) -> None:
        await self.cache.delete(f"user:{user_id}")

    async def close(self) -> None:
        await self.cache.close()


FACTORIES: dict[str, Callable[[str, Loader, str, str | None], Contender]] = {
    "QuLab": QuLabContender,
    "cashews": CashewsContender,
    "aiocache": AiocacheContender,
}


class CommandCount:
    n = 0


@contextmanager
def counting_commands() -> Iterator[CommandCount]:
    """Count the Redis commands every redis-py connection in this process packs (pipelines
    pack each of theirs the same way) while the block runs. Every contender talks through
    redis-py."""
    count = CommandCount()
    pack = AbstractConnection.pack_command

    def counted(self: AbstractConnection, *args: Any) -> Any:
        count.n += 1
        return pack(self, *args)

    AbstractConnection.pack_command = counted  # type: ignore[method-assign]
    try:
        yield count
    finally:
        AbstractConnection.pack_command = pack  # type: ignore[method-assign]
