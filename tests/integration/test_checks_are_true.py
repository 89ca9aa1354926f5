"""Every knowledge check whose answer is a measurable fact, measured on the real layer.

Each test measures what a question asks (on SQLite and PostgreSQL where both apply, on the
broker or cache the question names) and asserts that the answer key says what was measured: a
check that teaches something the layer does not do fails here. Questions whose answer depends
on the configuration are built for it (``ON_SQLITE``, ``ON_RABBITMQ``) and graded against the
measurement on that configuration. ``test_every_question_is_measured_or_says_why_not`` keeps
the list complete.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

import aio_pika
import pytest
from redis.asyncio import Redis
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import InvalidRequestError

from qulab.core import Settings, Token, last_commit_token
from qulab.core.cache import Outcome
from qulab.core.db import Database
from qulab.core.errors import PoolExhausted
from qulab.core.models import DomainEvent
from qulab.core.outbox import (
    MemoryBroker,
    RabbitMQPublisher,
    RedisStreamsPublisher,
    Relay,
    RetryPolicy,
    publish_pending,
)
from qulab.lab import checks, create_sample_airscore
from qulab.lab.event_table_design import REFERENCE
from qulab.lab.event_table_grade import grade
from qulab.lab.nplusone import compare_all_users, eager_queries
from qulab.lab.pooling import compare_pooling
from qulab.lab.private_postgres import PrivateCluster
from qulab.lab.relay_modes import compare_relay_modes
from qulab.platform import METADATA, migrate
from qulab.platform.cache import read_user_cached
from qulab.platform.models import AIRScore, Assessment, User
from qulab.platform.repositories import UserRepository
from qulab.platform.schemas import UserCreate
from qulab.platform.services.seeding import ensure_seeded, seeded_users
from qulab.platform.uow import PlatformUnitOfWork
from tests import services
from tests.cache_support import delete_prefix, make_cache, new_prefix, subscribed_cache
from tests.outbox_helpers import emit_events
from tests.replica_support import caught_up as replica_caught_up
from tests.replica_support import (
    received,
    replay_paused,
    replica_runtime,
    replica_settings,
    replicated_database,
)
from tests.service_calls import create_user, start_assessment, update_user
from tests.waiting import eventually

__all__ = ["replicated_database"]  # the fixture, used by name

T = TypeVar("T")
FAST = RetryPolicy(max_attempts=2, base=0.01, cap=0.01, jitter=0)

NOT_MEASURED = {
    "introduction.many_to_many": "a definition of relational design, not a behaviour of QuLab",
    "caching.hit_ratio": "arithmetic on the learner's own counts (hits / fetches)",
}

MEASURED = {
    "introduction.one_to_many",
    "introduction.stream_type",
    "introduction.cache_type",
    "data_models.foreign_key",
    "data_models.raise_on_sql",
    "data_models.cascade",
    "data_models.migrations",
    "connectivity.null_pool_connects",
    "connectivity.pool_limit",
    "connectivity.exhausted",
    "connectivity.one_loop",
    "repository.per_row_growth",
    "repository.eager_constant",
    "repository.commit_owner",
    "repository.selectinload",
    "caching.invalidate_when",
    "caching.stored_as",
    "caching.miss_cost",
    "eventing.same_transaction",
    "eventing.delivery",
    "eventing.skip_locked",
    "eventing.dead_letter",
    "eventing.row_per_event",
    "design.partial_index",
    "design.no_lock",
    "design.for_update",
    "design.order",
    "scaling.stale_without_token",
    "scaling.token_read",
    "scaling.guarded_cache",
}


def key(page: str, question_id: str, measured: Mapping[str, float] | None = None) -> str:
    """The answer the check marks right for ``measured`` (a configuration included)."""
    return checks.question(page, question_id, measured).answer


def on(db: Database) -> dict[str, float]:
    return {checks.ON_SQLITE: 1} if db.dialect == "sqlite" else {}


def test_every_question_is_measured_or_says_why_not() -> None:
    asked = {q.id for page in checks.PAGES for q in checks.questions(page)}
    assert asked == MEASURED | set(NOT_MEASURED)
    assert not MEASURED & set(NOT_MEASURED)


# --- Introduction and data models -----------------------------------------------------------


async def _foreign_keys(db: Database, table: str) -> list[tuple[str, str]]:
    """(column, referred table.column) of each foreign key of ``table``, read from the database."""

    def read(connection: Any) -> list[tuple[str, str]]:
        found = inspect(connection).get_foreign_keys(table)
        return [
            (fk["constrained_columns"][0], f"{fk['referred_table']}.{fk['referred_columns'][0]}")
            for fk in found
        ]

    async with db.engine.connect() as conn:
        return list(await conn.run_sync(read))


async def _unique_columns(db: Database, table: str) -> set[str]:
    def read(connection: Any) -> set[str]:
        inspector = inspect(connection)
        unique = {c for u in inspector.get_unique_constraints(table) for c in u["column_names"]}
        indexed = {
            c for i in inspector.get_indexes(table) if i["unique"] for c in i["column_names"]
        }
        return {str(c) for c in unique | indexed}

    async with db.engine.connect() as conn:
        return set(await conn.run_sync(read))


async def test_a_user_has_many_scores_by_the_foreign_key_on_air_scores(db: Database) -> None:
    assert ("user_id", "users.id") in await _foreign_keys(db, "air_scores")
    assert await _foreign_keys(db, "users") == []
    assert "user_id" not in await _unique_columns(db, "air_scores")  # many per user
    user = await create_user(db, email="many@example.com", name="Many")
    for _ in range(2):
        await create_sample_airscore(user.id, db=db)
    async with db.session() as session:
        count = len((await session.scalars(select(AIRScore.id))).all())
    assert count == 2
    assert key("introduction", "introduction.one_to_many") == "One-to-many"


async def test_assessments_belong_to_a_user_through_assessments_user_id(db: Database) -> None:
    assert ("user_id", "users.id") in await _foreign_keys(db, "assessments")
    assert key("data_models", "data_models.foreign_key") == "assessments.user_id"


async def test_touching_scores_not_loaded_raises_and_runs_no_sql(db: Database) -> None:
    user = await create_user(db, email="lazy@example.com", name="Lazy")
    async with db.session() as session:
        loaded = await UserRepository(session).get(user.id)
        with db.count_statements() as counter, pytest.raises(InvalidRequestError):
            _ = loaded.scores
    assert counter.count == 0
    assert key("data_models", "data_models.raise_on_sql") == "It raises instead of running SQL"


async def test_a_plain_delete_of_the_user_row_removes_its_scores_and_assessments(
    db: Database,
) -> None:
    user = await create_user(db, email="cascade@example.com", name="Cascade")
    await create_sample_airscore(user.id, db=db)
    await start_assessment(db, user.id, "fluency")
    async with db.engine.begin() as conn:  # no ORM, no repository: the database alone
        await conn.execute(text("DELETE FROM users WHERE id = :id"), {"id": user.id})
    async with db.session() as session:
        scores = (await session.scalars(select(AIRScore.id))).all()
        assessments = (await session.scalars(select(Assessment.id))).all()
    assert (scores, assessments) == ([], [])
    assert key("data_models", "data_models.cascade") == "ON DELETE CASCADE in the database"


async def _columns(db: Database) -> dict[str, set[str]]:
    def read(connection: Any) -> dict[str, set[str]]:
        inspector = inspect(connection)
        return {
            name: {c["name"] for c in inspector.get_columns(name)}
            for name in inspector.get_table_names()
        }

    async with db.engine.connect() as conn:
        return dict(await conn.run_sync(read))


async def test_create_all_leaves_an_existing_table_alone_and_a_migration_changes_it(
    tmp_path: Any,
) -> None:
    db = Database(Settings().replace(database_url=f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"))
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE users (id VARCHAR(36) PRIMARY KEY)"))
            for metadata in METADATA:
                await conn.run_sync(metadata.create_all)
        assert (await _columns(db))["users"] == {"id"}  # create_all skipped the table

        fresh = Database(
            Settings().replace(database_url=f"sqlite+aiosqlite:///{tmp_path / 'n.db'}")
        )
        try:
            await migrate.upgrade(fresh)
            head = await _columns(fresh)
            await migrate.downgrade(fresh)
            assert await _columns(fresh) != head  # the last revision changed the schema
            await migrate.upgrade(fresh)
            assert await _columns(fresh) == head
        finally:
            await fresh.dispose()
    finally:
        await db.dispose()
    assert key("data_models", "data_models.migrations") == "An Alembic migration"


async def test_outbox_events_on_a_redis_broker_are_a_stream(db: Database, redis_url: str) -> None:
    prefix = services.unique_name("qulab_check") + ":"
    publisher = RedisStreamsPublisher(redis_url, prefix=prefix)
    client = Redis.from_url(redis_url)
    try:
        await emit_events(db, 1, aggregate_type="Check")
        result = await publish_pending(db, publisher)
        assert result.published == 1
        kind = await client.type(f"{prefix}outbox.event.Check")
    finally:
        await client.aclose()
        await publisher.close()
        await services.delete_redis_prefix(prefix, redis_url)
    assert kind == b"stream"
    assert key("introduction", "introduction.stream_type") == "Stream"


async def test_a_cached_user_is_one_json_string_value_in_redis(
    db: Database, redis_url: str
) -> None:
    prefix = new_prefix()
    cache = make_cache("redis", prefix)
    client = Redis.from_url(redis_url)
    try:
        user = await create_user(db, email="cached@example.com", name="Cached")
        await read_user_cached(db, cache, user.id)
        kind = await client.type(f"{prefix}user:{user.id}")
        value = json.loads(await client.get(f"{prefix}user:{user.id}") or b"null")
    finally:
        await client.aclose()
        await cache.close()
        await delete_prefix(redis_url, prefix)
    assert kind == b"string"
    assert value["d"]["id"] == user.id and value["d"]["email"] == "cached@example.com"
    assert key("introduction", "introduction.cache_type") == "String"
    assert key("caching", "caching.stored_as") == "JSON of a frozen read model"


# --- Pooling ----------------------------------------------------------------------------------


async def test_without_a_pool_every_request_opens_a_connection(
    db: Database, settings: Settings
) -> None:
    await ensure_seeded(db, 5, 1, marker="checkpool")
    async with db.session() as session:
        ids = list((await session.scalars(select(User.id).where(seeded_users("checkpool")))).all())
    result = await compare_pooling(settings, ids, concurrency=1, requests=100, warmup=False)
    assert result.null_pool.connects == 100
    assert key("connectivity", "connectivity.null_pool_connects") == "100"
    measured = {
        "pooling.requests": result.pooled.requests,
        "pooling.pooled_connects": result.pooled.connects,
        "pooling.null_connects": result.null_pool.connects,
    }
    assert key("connectivity", "connectivity.null_pool_connects", measured) == "100"


async def _hold(db: Database, count: int, release: asyncio.Event, held: list[int]) -> None:
    async def one() -> None:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            held.append(1)
            await release.wait()

    await asyncio.gather(*(one() for _ in range(count)))


async def test_a_pool_of_5_plus_10_overflow_lends_15_and_the_16th_waits_then_fails(
    settings: Settings,
) -> None:
    db = Database(settings.replace(pool_size=5, max_overflow=10, pool_timeout=0.5))
    release = asyncio.Event()
    held: list[int] = []
    try:
        holders = asyncio.create_task(_hold(db, 15, release, held))
        while len(held) < 15:
            await asyncio.sleep(0)
        assert db.engine.pool.checkedout() == 15  # type: ignore[attr-defined]
        with pytest.raises(PoolExhausted):  # nothing came back within pool_timeout
            async with db.session_scope() as session:
                await session.connection()

        # A waiting checkout is served as soon as a connection comes back: it waits.
        waiting = asyncio.create_task(_checkout_once(db))
        await asyncio.sleep(0)
        assert not waiting.done()
        release.set()
        await asyncio.wait_for(waiting, timeout=10)
        await holders
    finally:
        release.set()
        await db.dispose()
    assert key("connectivity", "connectivity.pool_limit") == "15"
    assert key("connectivity", "connectivity.exhausted") == "Waits up to pool_timeout, then fails"


async def _checkout_once(db: Database) -> None:
    async with db.session_scope() as session:
        await session.connection()


async def test_a_pooled_connection_cannot_be_used_from_another_event_loop(
    postgres_url: str, pg_database_url: str
) -> None:
    db = Database(Settings().replace(database_url=pg_database_url, pool_size=1, max_overflow=0))
    failure: list[BaseException] = []
    try:
        async with db.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection  # the asyncpg connection the pool lends

            def other_loop() -> None:
                try:
                    asyncio.run(driver.fetchval("SELECT 1"))  # type: ignore[union-attr]
                except BaseException as error:
                    failure.append(error)

            thread = threading.Thread(target=other_loop)
            thread.start()
            thread.join(30)
            await conn.invalidate()
    finally:
        await db.dispose()
    assert failure, "a connection of one loop served another loop"
    assert key("connectivity", "connectivity.one_loop") == (
        "Engines and clients belong to the loop that created them"
    )


# --- Repository and N+1 -----------------------------------------------------------------------


async def test_statement_counts_per_row_and_eager_match_the_answers_past_500_users(
    db: Database,
) -> None:
    await ensure_seeded(db, 1200, 1, marker="checkn")
    where = seeded_users("checkn")
    small = await compare_all_users(db, 120, where=where)
    measured = {
        "nplusone.users": 120,
        "nplusone.per_row_statements": small.per_row.statement_count,
        "nplusone.eager_statements": small.eager.statement_count,
    }
    assert small.eager.statement_count == 2
    per_row_480 = (await compare_all_users(db, 480, where=where)).per_row.statement_count
    eager_1200 = (await compare_all_users(db, 1200, where=where)).eager.statement_count
    assert eager_1200 == eager_queries(1200) == 4  # 500 keys per IN: 500 + 500 + 200

    assert key("repository", "repository.per_row_growth", measured) == str(per_row_480)
    assert key("repository", "repository.eager_constant", measured) == str(eager_1200)
    assert key("repository", "repository.eager_constant") == "One more per 500 users"


async def test_selectinload_loads_the_scores_of_up_to_500_users_in_one_more_statement(
    db: Database,
) -> None:
    await ensure_seeded(db, 500, 2, marker="checksel")
    comparison = await compare_all_users(db, 500, where=seeded_users("checksel"))
    statements = comparison.eager.statements
    assert len(statements) == 2 and " IN " in statements[1].upper()
    assert key("repository", "repository.selectinload") == "selectinload"


async def test_a_repository_write_is_gone_unless_the_unit_of_work_commits(db: Database) -> None:
    async with PlatformUnitOfWork(db) as uow:
        await uow.users.add(UserCreate(email="nocommit@example.com", name="No"))
    async with db.session() as session:
        assert (await session.scalars(select(User.id))).all() == []
    async with PlatformUnitOfWork(db) as uow:
        await uow.users.add(UserCreate(email="commit@example.com", name="Yes"))
        await uow.commit()
    async with db.session() as session:
        assert len((await session.scalars(select(User.id))).all()) == 1
    assert key("repository", "repository.commit_owner") == "The unit of work"


# --- Caching ----------------------------------------------------------------------------------


async def test_the_cache_entry_is_dropped_after_the_commit_not_before(db: Database) -> None:
    async with subscribed_cache("memory", db) as cache:
        user = await create_user(db, email="inv@example.com", name="Inv")
        await read_user_cached(db, cache, user.id)
        entry = f"{cache.prefix}user:{user.id}"
        async with PlatformUnitOfWork(db) as uow:
            row = await uow.users.get(user.id)
            row.name = "Renamed"
            await uow.session.flush()
            assert await cache.backend.get(entry) is not None  # written, not committed: kept
        assert await cache.backend.get(entry) is not None  # rolled back: kept
        await update_user(db, user.id, name="Renamed")
        assert await cache.backend.get(entry) is None  # committed: dropped
    assert key("caching", "caching.invalidate_when") == "After the transaction commits"


async def test_a_miss_looks_in_the_cache_and_then_reads_the_database(db: Database) -> None:
    async with subscribed_cache("memory", db) as cache:
        user = await create_user(db, email="miss@example.com", name="Miss")
        with db.count_statements() as counter:
            result = await read_user_cached(db, cache, user.id)
        stats = (await cache.stats()).families["user"]
    assert result.outcome == Outcome.MISS
    assert counter.count == 1  # the database read
    assert stats.misses == 1  # the cache lookup that missed
    assert key("caching", "caching.miss_cost") == "A cache lookup plus a database read"


# --- Eventing ---------------------------------------------------------------------------------


async def _events(db: Database) -> list[DomainEvent]:
    async with db.session() as session:
        return list((await session.scalars(select(DomainEvent))).all())


async def test_the_event_row_commits_or_rolls_back_with_the_change(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with PlatformUnitOfWork(db) as uow:
            await uow.users.add(UserCreate(email="rb@example.com", name="Rb"))
            raise RuntimeError("the use case fails")
    assert await _events(db) == []
    await create_user(db, email="ok@example.com", name="Ok")
    assert [e.event_type for e in await _events(db)] == ["user.created"]
    assert key("eventing", "eventing.same_transaction") == (
        "In the same transaction as the business change"
    )


class _MarkFailsOnce:
    """Publishes to a memory broker; the first batch's mark-published then fails (a crash
    between publishing and marking, as far as the outbox can tell)."""

    def __init__(self, db: Database) -> None:
        self.broker = MemoryBroker()
        self.db = db
        self.crashed = False

    @property
    def description(self) -> str:
        return "mark fails once"

    async def close(self) -> None:
        await self.broker.close()

    async def publish(self, messages: Any) -> Any:
        failures = await self.broker.publish(messages)
        if not self.crashed:
            self.crashed = True
            raise _Crash
        return failures


class _Crash(BaseException):
    pass


async def test_a_crash_between_publish_and_mark_publishes_the_event_again(db: Database) -> None:
    [event_id] = await emit_events(db, 1)
    publisher = _MarkFailsOnce(db)
    relay = Relay(db, publisher)  # the same relay after the crash: it keeps its partitions
    with pytest.raises(_Crash):
        await relay.publish_pending()
    result = await relay.publish_pending()
    assert result.published == 1
    delivered = [d.message.id for d in publisher.broker.messages(10)]
    assert delivered == [event_id, event_id]  # at least once: here twice
    assert key("eventing", "eventing.delivery") == "At least once"


class _AlwaysRefuses:
    description = "always refuses"

    async def close(self) -> None:
        pass

    async def publish(self, messages: Any) -> Any:
        return {m.id: "refused" for m in messages}


async def test_an_event_that_keeps_failing_ends_as_failed(db: Database) -> None:
    await emit_events(db, 1)
    relay = Relay(db, _AlwaysRefuses(), policy=FAST)

    async def dead() -> bool:
        await relay.publish_pending()
        [event] = await _events(db)
        return event.status == "failed"

    await eventually(dead, "the event to be dead-lettered")
    [event] = await _events(db)
    assert event.attempts == FAST.max_attempts
    assert key("eventing", "eventing.dead_letter") == "It ends as failed after a bound of retries"


async def test_only_the_polling_relay_updates_a_row_per_published_event(
    logical_postgres: PrivateCluster,
) -> None:
    settings = Settings().replace(database_url=logical_postgres.primary.url())
    measured = await compare_relay_modes(settings, events=20, stopped_events=1)
    assert measured.same_events  # the same 20 inserts, through both relays
    assert (measured.polling.rows_marked, measured.wal.rows_marked) == (20, 0)
    assert measured.wal.event_updates == 0 < measured.polling.event_updates
    assert key("eventing", "eventing.row_per_event") == "The polling relay"


async def test_on_rabbitmq_an_unroutable_event_retries_then_ends_as_failed(
    db: Database, amqp_url: str
) -> None:
    exchange = services.unique_name("qulab_check_exchange")
    publisher = RabbitMQPublisher(amqp_url, exchange=exchange)
    relay = Relay(db, publisher, policy=FAST)
    try:
        await emit_events(db, 1)
        first = await relay.publish_pending()
        [event] = await _events(db)
        assert (first.published, event.status) == (0, "pending")
        assert "NO_ROUTE" in (event.last_error or "")

        async def dead() -> bool:
            await relay.publish_pending()
            [event] = await _events(db)
            return event.status == "failed"

        await eventually(dead, "the unroutable event to be dead-lettered")
    finally:
        await publisher.close()
        connection = await aio_pika.connect(amqp_url)
        try:
            await (await connection.channel()).exchange_delete(exchange)
        finally:
            await connection.close()
    answer = key("eventing", "eventing.dead_letter", {checks.ON_RABBITMQ: 1})
    assert answer == "It ends as failed after a bound of retries"
    assert (
        "RabbitMQ"
        in checks.question("eventing", "eventing.dead_letter", {checks.ON_RABBITMQ: 1}).prompt
    )


# --- Create: the event table ------------------------------------------------------------------


async def test_the_create_pages_answers_are_what_the_grader_measures_here(db: Database) -> None:
    reference = await grade(db, REFERENCE)
    assert reference.index_used and not reference.inversions
    assert key("design", "design.partial_index") == (
        "A partial index on pending events, in claim order"
    )
    no_index = await grade(db, replace(REFERENCE, indexes=()))
    assert not no_index.index_used

    no_lock = await grade(db, replace(REFERENCE, lock="none"))
    seen = "Events published twice" if no_lock.duplicates else "Nothing: the relays take turns"
    assert key("design", "design.no_lock", on(db)) == seen
    assert seen == (
        "Nothing: the relays take turns" if db.dialect == "sqlite" else "Events published twice"
    )

    random_order = await grade(db, replace(REFERENCE, order_by="id", hold_aggregate=False))
    assert random_order.inversions > 0
    assert key("design", "design.order", on(db)) == (
        "So events of one aggregate are published in the order they were written"
    )

    if db.dialect == "postgresql":
        plain = await grade(db, replace(REFERENCE, lock="for_update"))
        assert plain.blocked is True
        assert reference.blocked is False and reference.duplicates == 0
        assert key("design", "design.for_update") == (
            "It waits until the other relay's transaction ends"
        )
        assert key("eventing", "eventing.skip_locked") == "FOR UPDATE SKIP LOCKED"


def test_the_configuration_decides_the_no_lock_answer() -> None:
    sqlite = checks.question("design", "design.no_lock", {checks.ON_SQLITE: 1})
    postgres = checks.question("design", "design.no_lock", {})
    assert "SQLite" in sqlite.prompt and "PostgreSQL" in postgres.prompt
    assert sqlite.answer != postgres.answer


# --- Scaling out (a primary and a streaming standby) ----------------------------------------

READ_NAME = text("SELECT name, pg_is_in_recovery() FROM users WHERE id = :id")


async def _as_another_request(call: Callable[[], Awaitable[T]]) -> T:
    async def run() -> T:
        return await call()

    return await asyncio.create_task(run(), context=contextvars.Context())


async def _read_name(db: Database, user_id: str, token: Token | None) -> str:
    """What a read of the user's name sees, as the option reads: old/new, standby/primary."""
    async with db.reading(token=token) as session:
        name, in_recovery = (await session.execute(READ_NAME, {"id": user_id})).one()
    server = "standby" if in_recovery else "primary"
    return f"The {'new' if name == 'After' else 'old'} name, read on the {server}"


async def test_with_replay_paused_a_read_is_stale_without_the_token_and_fresh_with_it(
    replicated_postgres: PrivateCluster, replicated_database: str
) -> None:
    settings = replica_settings(replicated_postgres, replicated_database)
    async with replica_runtime(settings) as rt:
        email = f"{services.unique_name('check')}@example.com"
        user = await create_user(rt.db, email=email, name="Before")
        await replica_caught_up(replicated_postgres)
        async with replay_paused(replicated_postgres):
            await update_user(rt.db, user.id, name="After")
            token = last_commit_token()
            assert token is not None
            await received(replicated_postgres, str(token))
            plain = await _as_another_request(lambda: _read_name(rt.db, user.id, None))
            given = await _as_another_request(lambda: _read_name(rt.db, user.id, token))
    assert plain == key("scaling", "scaling.stale_without_token")
    assert given == key("scaling", "scaling.token_read")


async def test_with_the_standby_behind_no_reader_through_the_cache_gets_the_old_name(
    replicated_postgres: PrivateCluster, replicated_database: str
) -> None:
    settings = replica_settings(replicated_postgres, replicated_database)
    async with replica_runtime(settings) as rt:
        email = f"{services.unique_name('check')}@example.com"
        user = await create_user(rt.db, email=email, name="Before")
        await replica_caught_up(replicated_postgres)

        async def cached_name() -> str:
            found = (await read_user_cached(rt.db, rt.cache, user.id)).value
            assert found is not None
            return found.name

        assert await _as_another_request(cached_name) == "Before"  # cached from the standby
        async with replay_paused(replicated_postgres):
            await update_user(rt.db, user.id, name="After")
            await received(replicated_postgres, str(last_commit_token()))
            names = await asyncio.gather(*(_as_another_request(cached_name) for _ in range(8)))
    assert str(names.count("Before")) == key("scaling", "scaling.guarded_cache")
