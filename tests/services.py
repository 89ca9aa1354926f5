"""Reach the real services for tests: skip when absent, fail when CI says they are required."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REQUIRED = os.environ.get("QULAB_REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}

POSTGRES_URL = os.environ.get(
    "QULAB_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("QULAB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("QULAB_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
NATS_URL = os.environ.get("QULAB_TEST_NATS_URL", "nats://127.0.0.1:4222")
CHROMIUM = Path("/usr/bin/chromium")


def unavailable(service: str, reason: str) -> None:
    """Skip the test, or fail it when services are required (CI)."""
    message = f"{service} is not available: {reason}"
    if REQUIRED:
        pytest.fail(message + " (QULAB_REQUIRE_SERVICES is set)", pytrace=False)
    pytest.skip(message)


def port_open(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def _raw_pg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def create_pg_database(prefix: str = "qulab_test") -> str:
    """Create a fresh PostgreSQL database and return its SQLAlchemy URL."""
    import asyncpg

    name = unique_name(prefix)

    async def _create() -> None:
        conn = await asyncpg.connect(_raw_pg_dsn(POSTGRES_URL), timeout=5)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(_create())
    return with_database(POSTGRES_URL, name)


def drop_pg_database(url: str) -> None:
    import asyncpg

    name = url.rpartition("/")[2]

    async def _drop() -> None:
        conn = await asyncpg.connect(_raw_pg_dsn(POSTGRES_URL), timeout=5)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(_drop())


def require_postgres() -> None:
    if not port_open(POSTGRES_URL, 5432):
        unavailable("PostgreSQL", f"nothing listens at {urlsplit(POSTGRES_URL).netloc}")


def require_redis() -> None:
    if not port_open(REDIS_URL, 6379):
        unavailable("Redis", f"nothing listens at {urlsplit(REDIS_URL).netloc}")


def require_rabbitmq() -> None:
    if not port_open(AMQP_URL, 5672):
        unavailable("RabbitMQ", f"nothing listens at {urlsplit(AMQP_URL).netloc}")


def require_nats() -> None:
    if not port_open(NATS_URL, 4222):
        unavailable("NATS", f"nothing listens at {urlsplit(NATS_URL).netloc}")


async def delete_nats_streams(prefix: str, url: str = NATS_URL) -> int:
    """Remove the JetStream streams under a test's own prefix, and only those."""
    import nats

    client = await nats.connect(url, connect_timeout=5, allow_reconnect=False)
    try:
        js = client.jetstream()
        names = [info.config.name for info in await js.streams_info()]
        mine = [name for name in names if name and name.startswith(prefix)]
        for name in mine:
            await js.delete_stream(name)
        return len(mine)
    finally:
        await client.close()


async def read_stream(stream: str, url: str = REDIS_URL) -> list[tuple[str, dict[str, str]]]:
    """XRANGE of a whole Redis stream, decoded: (entry id, fields), oldest first."""
    from redis import asyncio as aioredis

    client = aioredis.from_url(url, decode_responses=True)
    try:
        entries = await client.xrange(stream) or []
        return [
            (str(entry_id), {str(key): str(value) for key, value in (fields or {}).items()})
            for entry_id, fields in entries
        ]
    finally:
        await client.aclose()


async def delete_redis_prefix(prefix: str, url: str = REDIS_URL) -> int:
    """Remove the keys under a test's own prefix, and only those."""
    from redis import asyncio as aioredis

    client = aioredis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
        return int(await client.delete(*keys)) if keys else 0
    finally:
        await client.aclose()
