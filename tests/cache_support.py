"""Helpers shared by the cache tests: caches on a unique prefix, a private redis-server."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import redis.asyncio as aioredis

from qulab.core.cache import (
    Cache,
    CircuitBreaker,
    MemoryBackend,
    RedisBackend,
)
from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.platform.cache import families
from tests import services
from tests.waiting import wait_until

FAMILIES = families(Settings())
"""The platform's cache families at the default TTLs, for caches the tests build themselves."""


def new_prefix() -> str:
    return services.unique_name("qulab_test") + ":"


def make_cache(
    kind: str,
    prefix: str,
    url: str | None = None,
    *,
    socket_timeout: float | None = None,
    **options: object,
) -> Cache:
    if kind == "redis":
        backend: MemoryBackend | RedisBackend = (
            RedisBackend(url or services.REDIS_URL)
            if socket_timeout is None
            else RedisBackend(url or services.REDIS_URL, socket_timeout=socket_timeout)
        )
    else:
        backend = MemoryBackend(1000)
    options.setdefault("breaker", CircuitBreaker("test cache"))
    return Cache(backend, families=FAMILIES, prefix=prefix, **options)  # type: ignore[arg-type]


@asynccontextmanager
async def subscribed_cache(
    kind: str, db: Database, *, socket_timeout: float | None = None
) -> AsyncIterator[Cache]:
    """A cache on a fresh prefix subscribed to ``db``'s bus, as the CLI and the app wire it;
    afterwards unsubscribed, closed, and its Redis keys removed."""
    prefix = new_prefix()
    cache = make_cache(kind, prefix, socket_timeout=socket_timeout)
    cache.subscribe(db.bus)
    try:
        yield cache
    finally:
        cache.unsubscribe(db.bus)
        await cache.close()
        if kind == "redis":
            await delete_prefix(services.REDIS_URL, prefix)


async def delete_prefix(url: str, prefix: str) -> int:
    """Remove this test's keys, and only those."""
    return await services.delete_redis_prefix(prefix, url)


async def stored_entry(cache: Cache, family_name: str, ident: str) -> bytes | None:
    key = f"{cache.prefix}{family_name}:{ident}"
    return await cache.backend.get(key)


class ManualClock:
    """A clock the test moves by hand (for the breaker's reset period)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RedisServer:
    """A throwaway redis-server on a spare port, started and stopped by the test."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            services.unavailable("redis-server", "the binary is not installed")
        self.binary = str(binary)
        self.workdir = workdir
        self.port = services.free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *(self.binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.workdir)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(
            lambda: services.port_open(self.url, self.port),
            f"redis-server to listen on port {self.port}",
            interval=0.05,
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


async def all_keys(url: str) -> list[str]:
    client = aioredis.from_url(url)
    try:
        return sorted([key.decode() async for key in client.scan_iter(count=500)])
    finally:
        await client.aclose()


async def settle() -> None:
    """Let already scheduled callbacks run."""
    await asyncio.sleep(0)
