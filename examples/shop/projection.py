"""The consumer ``shop-sales``: per product, the orders, units and revenue of ``order_placed``
events, applied exactly once.

The consumer loop hands each delivery to the method registered for its event (``@handles``)
inside the inbox's transaction: the inbox row (consumer, event id) and this upsert commit
together, so an event delivered twice is counted once. The upsert adds in SQL, so any number
of consumers can apply events side by side.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from examples.shop.events import OrderPlaced
from examples.shop.models import ProductSales
from qulab.core import Consumer, Delivery, Runtime, dialect_insert, utcnow
from qulab.core.consumers import Projection, handles

SALES = cast(Table, ProductSales.__table__)  # the table under the model, for Core statements


class SalesProjection(Projection):
    """Reads the Order stream; an event it has no method for is only recorded in the inbox."""

    name = "shop-sales"
    aggregate_types: tuple[str, ...] = ("Order",)

    @handles(OrderPlaced)
    async def placed(self, conn: AsyncConnection, event: OrderPlaced, delivery: Delivery) -> None:
        insert = dialect_insert(conn, SALES).values(
            product_id=event.product_id,
            orders=1,
            units=event.quantity,
            revenue_cents=event.total_cents,
            updated_at=utcnow(),
        )
        new = insert.excluded
        await conn.execute(
            insert.on_conflict_do_update(
                index_elements=[SALES.c.product_id],
                set_={
                    "orders": SALES.c.orders + 1,
                    "units": SALES.c.units + new.units,
                    "revenue_cents": SALES.c.revenue_cents + new.revenue_cents,
                    "updated_at": new.updated_at,
                },
            )
        )


def sales_consumer(shop: Runtime, *, wait: float = 1.0) -> Consumer:
    """The sales projection reading the broker the settings name, as its own consumer group.
    Close its source when done (``await consumer.source.close()``)."""
    return shop.consumer(SalesProjection.name, wait=wait)
