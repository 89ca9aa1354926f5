"""``cache``: one user read four ways on PostgreSQL + Redis, side by side in one run.

- ORM read (the miss path): a fresh session, ``UserRepository.get_by_id``, ``UserRead``.
- Redis hit: ``CachedUserRepository.fetch_user`` on a warm Redis entry.
- In-process hit: the same on the in-process backend.
- Both hits again with Prometheus metrics on (each read tallied for a counter and a histogram).
- Raw GET: ``redis.asyncio`` GET of the same bytes over the same connection pool.

Then a mixed workload (reads with invalidations) whose hit ratio and latencies feed the lab's
T_avg = H*T_cache + (1-H)*(T_cache + T_database), next to the measured mean.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Awaitable, Callable

import asyncpg

from bench.harness import (
    POSTGRESQL,
    REDIS_SERVER,
    BenchConfig,
    Report,
    Samples,
    Table,
    Target,
    bench_settings,
    benchmark,
    required,
    time_rounds,
)
from qulab.core.cache import Cache, CacheBackend, CircuitBreaker, MemoryBackend, RedisBackend
from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.core.metrics import Metrics
from qulab.lab import create_sample_airscore
from qulab.platform import migrate
from qulab.platform.application import bootstrap
from qulab.platform.cache import CachedUserRepository, families, invalidate_user, user_family
from qulab.platform.repositories import UserRepository
from qulab.platform.schemas import UserCreate, UserRead
from qulab.platform.services.users import create_user
from qulab.platform.uow import uow_factory


def _postgres_url(config: BenchConfig) -> str:
    return required(config.postgres_url, POSTGRESQL)


def _redis_url(config: BenchConfig) -> str:
    return required(config.redis_url, REDIS_SERVER)


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _cache(backend: CacheBackend, prefix: str, metrics: Metrics | None = None) -> Cache:
    return Cache(
        backend,
        families=families(Settings()),
        prefix=prefix,
        breaker=CircuitBreaker(f"bench {backend.kind}"),
        metrics=None if metrics is None else metrics.cache,
    )


async def _delete_prefix(backend: RedisBackend, prefix: str) -> None:
    client = backend.client()
    keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
    if keys:
        await client.delete(*keys)


def _us(samples: Samples, p: float) -> float:
    return samples.percentile(p) * 1e6


@benchmark(
    "cache",
    "Read-through cache: Redis and in-process hits against the ORM read",
    needs=(POSTGRESQL, REDIS_SERVER),
)
async def cache_benchmark(config: BenchConfig) -> Report:
    admin_url = _postgres_url(config)
    name = f"qulab_bench_cache_{uuid.uuid4().hex[:8]}"
    await _admin(admin_url, f'CREATE DATABASE "{name}"')
    db_url = f"{admin_url.rpartition('/')[0]}/{name}"
    prefix = f"qulab_bench_{uuid.uuid4().hex[:8]}:"
    runtime = bootstrap(bench_settings(database_url=db_url))
    db = runtime.db
    redis_backend = RedisBackend(_redis_url(config), socket_timeout=1.0)
    redis_cache, memory_cache = _cache(redis_backend, prefix), _cache(MemoryBackend(), prefix)
    try:
        await migrate.upgrade(db)
        return await _measure(config, db, redis_cache, memory_cache, redis_backend)
    finally:
        await _delete_prefix(redis_backend, prefix)
        await redis_cache.close()
        await memory_cache.close()
        await runtime.close()
        await _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _measure(
    config: BenchConfig,
    db: Database,
    redis_cache: Cache,
    memory_cache: Cache,
    redis_backend: RedisBackend,
) -> Report:
    n_hits, n_orm = (300, 100) if config.quick else (5000, 1000)
    user = await create_user(
        UserCreate(email="bench@example.com", name="Bench User"), uow_factory(db)
    )
    await create_sample_airscore(user.id, db=db)

    async def orm_read() -> None:
        async with db.session() as session:
            UserRead.model_validate(await UserRepository(session).get_one_or_none(user.id))

    session = db.session()  # a hit never touches the session
    redis_repo = CachedUserRepository(session, redis_cache)
    memory_repo = CachedUserRepository(session, memory_cache)
    # The same backends (so the same warm entries) read by caches that record metrics.
    metrics = Metrics()
    redis_metered = CachedUserRepository(
        session,
        _cache(redis_cache.backend, redis_cache.prefix, metrics),
    )
    memory_metered = CachedUserRepository(
        session,
        _cache(memory_cache.backend, memory_cache.prefix, metrics),
    )
    await redis_repo.fetch_user(user.id)
    await memory_repo.fetch_user(user.id)
    key = redis_cache.key(user_family(redis_cache), user.id)
    client = redis_backend.client()

    async def redis_hit() -> None:
        result = await redis_repo.fetch_user(user.id)
        assert result.outcome == "HIT"

    async def memory_hit() -> None:
        result = await memory_repo.fetch_user(user.id)
        assert result.outcome == "HIT"

    async def redis_hit_metered() -> None:
        result = await redis_metered.fetch_user(user.id)
        assert result.outcome == "HIT"

    async def memory_hit_metered() -> None:
        result = await memory_metered.fetch_user(user.id)
        assert result.outcome == "HIT"

    async def raw_get() -> None:
        assert await client.get(key) is not None

    cases = await _interleaved(
        [
            ("ORM read (miss path)", orm_read, n_orm),
            ("Redis hit", redis_hit, n_hits),
            ("in-process hit", memory_hit, n_hits),
            ("Redis hit, metrics on", redis_hit_metered, n_hits),
            ("in-process hit, metrics on", memory_hit_metered, n_hits),
            ("raw redis.asyncio GET", raw_get, n_hits),
        ]
    )
    await session.close()
    orm, redis_s, memory_s, redis_metered_s, _, raw = cases
    rows = [[c.label, len(c.seconds), _us(c, 50), _us(c, 95), orm.median / c.median] for c in cases]
    mixed = await _mixed_workload(db, redis_cache, 100 if config.quick else 2000)
    report = Report(
        name="cache",
        title="Read-through cache: ORM read vs Redis hit vs in-process hit vs raw GET",
        tables=[
            Table(
                "One user read (per call, PostgreSQL + Redis on localhost)",
                ["case", "calls", "p50 µs", "p95 µs", "ORM p50 / case p50"],
                rows,
            ),
            mixed,
        ],
        targets=[
            Target(
                "Redis hit ≥ 5x faster than the ORM read (p50 ratio)",
                orm.median / redis_s.median,
                5.0,
                higher_is_better=True,
                limits="both sides are one localhost round trip plus asyncio overhead; the "
                "ORM read's extra cost is SQLAlchemy's session and row processing",
            ),
            Target(
                "Redis hit ≤ 1.3x a raw GET of the same bytes (p50 ratio)",
                redis_s.median / raw.median,
                1.3,
                higher_is_better=False,
                limits="a hit adds JSON decoding and read-model "
                "validation, and statistics recording on top of the round trip",
            ),
            Target(
                "Redis hit with metrics on ≤ 1.05x without (p50 ratio)",
                redis_metered_s.median / redis_s.median,
                1.05,
                higher_is_better=False,
                limits="metrics add a tally under one lock (count, time, bucket) to every read",
            ),
            Target(
                "In-process hit p50 ≤ 20 µs",
                memory_s.median * 1e6,
                20.0,
                higher_is_better=False,
                limits="JSON decoding and pydantic validation of the read model on every hit",
            ),
        ],
        notes=[
            "Hits go through CachedUserRepository.fetch_user (id validation, key build, "
            "GET, decode into the read model, statistics); the raw GET is the floor a Redis "
            "hit cannot beat.",
            "Each case is timed call by call after a warm-up, in ten alternating blocks, in one "
            "process on one event loop.",
            "'metrics on' reads the same backend and entries through a cache whose recorder is "
            "the Prometheus one (qulab.core.metrics); the other hits record nowhere.",
        ],
        raw={"cases": [c.summary() for c in cases]},
    )
    return report


async def _interleaved(
    cases: list[tuple[str, Callable[[], Awaitable[None]], int]], blocks: int = 10
) -> list[Samples]:
    """Time the cases in alternating blocks so drift on a shared machine hits them all alike."""
    seconds: dict[str, list[float]] = {label: [] for label, _, _ in cases}
    for block in range(blocks):
        for label, operation, calls in cases:
            warmup = max(calls // 20, 5) if block == 0 else 2
            seconds[label] += await time_rounds(operation, calls // blocks, warmup=warmup)
    return [Samples(label, seconds[label]) for label, _, _ in cases]


async def _mixed_workload(db: Database, cache: Cache, reads: int) -> Table:
    """Reads over a few users with an invalidation every 10 reads; the cache's own statistics
    then give H, T_cache, T_database and T_avg (formula and measured)."""
    rng = random.Random(7)
    ids = [
        (
            await create_user(
                UserCreate(email=f"mix{i}@example.com", name=f"Mix {i}"), uow_factory(db)
            )
        ).id
        for i in range(20)
    ]
    await cache.reset_stats()
    async with db.session() as session:
        repo = CachedUserRepository(session, cache)
        for i in range(reads):
            if i % 10 == 9:
                await invalidate_user(cache, rng.choice(ids))
            await repo.fetch_user(rng.choice(ids))
    stats = (await cache.stats()).families["user"]

    def us(value: float | None) -> float | str:
        return "" if value is None else value * 1e6

    return Table(
        f"Mixed workload: {reads} reads of 20 users, one invalidation per 10 reads (Redis)",
        ["H", "T_cache µs", "T_database µs", "T_avg formula µs", "T_avg measured µs"],
        [
            [
                stats.hit_ratio or 0.0,
                us(stats.t_cache_s),
                us(stats.t_database_s),
                us(stats.t_avg_formula_s),
                us(stats.t_avg_measured_s),
            ]
        ],
    )
