"""The shop example end to end, on real services: PostgreSQL, the Redis cache and Redis Streams;
and on the embedded stack (SQLite, the in-process cache, the memory broker).

A fresh database is migrated with the shop's own migrations; products and orders are written
through its services; its product view is read through the cache (a miss, then a hit) and
invalidated by the writes; the relay drains the outbox to the broker; the sales consumer
brings its projection level with the orders, and absorbs a redelivered event in its inbox.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from redis.asyncio import Redis
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Connection

from examples.shop.application import SHOP
from examples.shop.events import OrderPlaced
from examples.shop.models import Base, Order, Product, ProductSales
from examples.shop.projection import sales_consumer
from examples.shop.repositories import ProductRepository
from examples.shop.services import add_product, change_price, place_order
from examples.shop.uow import shop_units
from examples.shop.views import ProductView, read_product
from qulab.core.bootstrap import Runtime, bootstrap
from qulab.core.cache import Outcome
from qulab.core.config import Settings
from qulab.core.consumers import applied_ids
from qulab.core.errors import ConfigurationError, ConflictError, DuplicateError
from qulab.core.models import DomainEvent, EventStatus, metadata
from qulab.core.outbox import replay, stream_name
from tests import services


@dataclass(frozen=True)
class Stack:
    """Where the shop runs in one test: its settings and the prefix of its Redis keys."""

    settings: Settings
    prefix: str

    @property
    def redis(self) -> bool:
        return self.settings.cache.redis_url is not None

    def cache_key(self, family: str, ident: str) -> str:
        return f"{self.settings.cache.prefix}{family}:{ident}"


@pytest.fixture(params=["postgresql+redis", "sqlite+memory"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    prefix = services.unique_name("qulab_test_shop") + ":"
    if request.param == "sqlite+memory":
        settings = Settings().replace(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}",
            broker_url=f"memory://{prefix.rstrip(':')}",
            cache_prefix=prefix,
        )
        yield Stack(settings, prefix)
        return
    request.getfixturevalue("postgres_url")  # each server, or a skip (a failure in CI)
    request.getfixturevalue("redis_url")
    url = services.create_pg_database("qulab_test_shop")
    try:
        yield Stack(
            Settings().replace(
                database_url=url,
                redis_url=services.REDIS_URL,
                broker_url=services.REDIS_URL,
                cache_prefix=f"{prefix}cache:",
                outbox_stream_prefix=prefix,
            ),
            prefix,
        )
    finally:
        services.drop_pg_database(url)


@pytest.fixture
async def shop(stack: Stack) -> AsyncIterator[Runtime]:
    """The shop's runtime on a database its own migrations brought to head."""
    runtime = bootstrap(SHOP, stack.settings)
    try:
        await SHOP.migrations.upgrade(runtime.db)
        yield runtime
    finally:
        await runtime.close()
        if stack.redis:
            await services.delete_redis_prefix(stack.prefix)


async def cached_entry(stack: Stack, shop: Runtime, key: str) -> bytes | None:
    """The raw cache entry: read with a client of its own on Redis."""
    if not stack.redis:
        return await shop.cache.backend.get(key)
    client = Redis.from_url(services.REDIS_URL)
    try:
        value = await client.get(key)
        return value if value is None else cast(bytes, value)
    finally:
        await client.aclose()


async def stream_entries(stack: Stack, aggregate_type: str) -> list[dict[bytes, bytes]]:
    client = Redis.from_url(services.REDIS_URL)
    try:
        entries = await client.xrange(stream_name(aggregate_type, stack.prefix))
        return [cast(dict[bytes, bytes], fields) for _, fields in entries or []]
    finally:
        await client.aclose()


async def events(shop: Runtime) -> list[DomainEvent]:
    async with shop.db.session() as session:
        query = select(DomainEvent).order_by(DomainEvent.sequence)
        return list((await session.execute(query)).scalars())


async def sales(shop: Runtime) -> dict[str, tuple[int, int, int]]:
    async with shop.db.session() as session:
        rows = (await session.execute(select(ProductSales))).scalars()
        return {r.product_id: (r.orders, r.units, r.revenue_cents) for r in rows}


async def sales_from_orders(shop: Runtime) -> dict[str, tuple[int, int, int]]:
    """What the projection should say, computed from the orders table itself."""
    query = select(
        Order.product_id, func.count(), func.sum(Order.quantity), func.sum(Order.total_cents)
    ).group_by(Order.product_id)
    async with shop.db.session() as session:
        rows = (await session.execute(query)).all()
    return {product: (int(n), int(units), int(cents)) for product, n, units, cents in rows}


def schema_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, [Base.metadata, metadata]))  # type: ignore[arg-type]  # a list, as Alembic's target_metadata


async def test_the_shop_migrations_build_exactly_its_models_and_the_core_tables(
    shop: Runtime,
) -> None:
    async with shop.db.connect() as conn:
        assert await conn.run_sync(schema_diff) == []
    await SHOP.migrations.downgrade(shop.db, "base")
    async with shop.db.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert tables == {"alembic_version"}


async def test_the_shop_writes_caches_relays_and_projects_each_event_once(
    shop: Runtime, stack: Stack
) -> None:
    assert await SHOP.migrations.is_up_to_date(shop.db)
    uow = shop_units(shop.db)
    lamp = await add_product(uow, sku="LAMP-1", name="Desk lamp", price_cents=2500, stock=10)
    chair = await add_product(uow, sku="CHAIR-1", name="Chair", price_cents=9000, stock=2)
    key = stack.cache_key("product", lamp.id)

    # Read through the cache: a miss stores the view, the next read is a hit.
    first = await read_product(shop, lamp.id)
    second = await read_product(shop, lamp.id)
    assert (first.outcome, second.outcome) == (Outcome.MISS, Outcome.HIT)
    assert first.value == second.value == lamp
    stored = await cached_entry(stack, shop, key)
    assert stored is not None and b"Desk lamp" in stored

    # A price change commits, then invalidates: the entry is gone, the next read misses.
    await change_price(uow, lamp.id, 1999)
    assert await cached_entry(stack, shop, key) is None
    repriced = await read_product(shop, lamp.id)
    assert repriced.outcome is Outcome.MISS
    assert repriced.value is not None and repriced.value.price_cents == 1999

    # Orders take stock (in SQL) and invalidate the product too.
    await place_order(uow, lamp.id, 3)
    await place_order(uow, lamp.id, 2)
    await place_order(uow, chair.id, 2)
    after_orders = await read_product(shop, lamp.id)
    assert after_orders.outcome is Outcome.MISS
    assert after_orders.value is not None and after_orders.value.stock == 5
    assert (await read_product(shop, lamp.id)).outcome is Outcome.HIT

    # The relay drains the outbox to the broker.
    written = await events(shop)
    assert [e.event_type for e in written] == [
        "shop.product_added",
        "shop.product_added",
        "shop.price_changed",
        "shop.order_placed",
        "shop.order_placed",
        "shop.order_placed",
    ]
    relayed = await shop.relay().publish_pending()
    assert relayed.published == 6
    assert {e.status for e in await events(shop)} == {EventStatus.PUBLISHED.value}
    orders = [e for e in written if e.event_type == OrderPlaced.wire_type]
    if stack.redis:
        on_stream = await stream_entries(stack, "Order")
        assert [entry[b"id"].decode() for entry in on_stream] == [e.id for e in orders]
        assert len(await stream_entries(stack, "Product")) == 3

    # The consumer applies each order once; its projection matches the orders table.
    consumer = sales_consumer(shop, wait=0.2)
    try:
        applied = await consumer.run_once()
        assert (applied.processed, applied.duplicates, applied.rejected) == (3, 0, 0)
        assert await sales(shop) == await sales_from_orders(shop)
        assert await sales(shop) == {lamp.id: (2, 5, 5 * 1999), chair.id: (1, 2, 18000)}
        assert await applied_ids(shop.db, "shop-sales") == {e.id: 1 for e in orders}

        # Redelivered: the event is published again, the inbox absorbs it.
        assert await replay(shop.db, [orders[0].id]) == 1
        assert (await shop.relay().publish_pending()).published == 1
        if stack.redis:
            on_stream = await stream_entries(stack, "Order")
            assert [entry[b"id"].decode() for entry in on_stream].count(orders[0].id) == 2
        again = await consumer.run_once()
        assert (again.processed, again.duplicates) == (3, 1)  # totals: one more duplicate
        assert await sales(shop) == await sales_from_orders(shop)
        delivered = await applied_ids(shop.db, "shop-sales")
        assert delivered == {orders[0].id: 2, orders[1].id: 1, orders[2].id: 1}
    finally:
        await consumer.source.close()


async def test_a_taken_sku_is_a_duplicate_and_writes_nothing(shop: Runtime) -> None:
    uow = shop_units(shop.db)
    await add_product(uow, sku="MUG-1", name="Mug", price_cents=800)
    with pytest.raises(DuplicateError, match=r"^sku: a product with SKU MUG-1 already exists$"):
        await add_product(uow, sku="MUG-1", name="Another mug", price_cents=900)
    async with shop.db.session() as session:
        assert await ProductRepository(session).count() == 1
    assert [e.event_type for e in await events(shop)] == ["shop.product_added"]


async def test_an_order_beyond_the_stock_is_refused_and_writes_nothing(shop: Runtime) -> None:
    uow = shop_units(shop.db)
    pen = await add_product(uow, sku="PEN-1", name="Pen", price_cents=150, stock=1)
    with pytest.raises(ConflictError, match=r"1 in stock, 2 asked"):
        await place_order(uow, pen.id, 2)
    # Were two orders to race for the last pen, the table's CHECK refuses the second.
    async with shop.db.session() as session:
        with pytest.raises(ConflictError, match=f"^product {pen.id} could not be updated: "):
            await ProductRepository(session).update(pen.id, stock=Product.stock - 2)
    async with shop.db.session() as session:
        assert (await ProductRepository(session).get(pen.id)).stock == 1
        assert await session.scalar(select(func.count()).select_from(Order)) == 0
    assert [e.event_type for e in await events(shop)] == ["shop.product_added"]


async def test_the_shops_own_setting_sets_its_familys_lifetime(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHOP_PRODUCT_TTL", "45")
    async with bootstrap(SHOP, Settings()) as from_environment:
        assert from_environment.cache.family("product", ProductView).ttl == 45
    async with bootstrap(SHOP, Settings().replace(shop_product_ttl=5)) as changed:
        assert changed.cache.family("product", ProductView).ttl == 5
    monkeypatch.setenv("SHOP_PRODUCT_TTL", "never")
    with pytest.raises(ConfigurationError, match=r"^SHOP_PRODUCT_TTL: "):
        bootstrap(SHOP, Settings())
