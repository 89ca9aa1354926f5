"""The shop's unit of work: the core's transaction (and outbox) with the shop's repositories."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from examples.shop.repositories import OrderRepository, ProductRepository
from qulab.core import Database, UnitOfWork, UnitOfWorkFactory


class ShopUnitOfWork(UnitOfWork):
    products: ProductRepository
    orders: OrderRepository

    def open_repositories(self, session: AsyncSession) -> None:
        self.products = ProductRepository(session)
        self.orders = OrderRepository(session)


ShopUnits = UnitOfWorkFactory[ShopUnitOfWork]
"""What the services take: a zero-argument callable returning a fresh, unentered unit of work."""


def shop_units(db: Database) -> ShopUnits:
    """The factory of real units of work on ``db`` (a test may pass a factory of fakes)."""
    return lambda: ShopUnitOfWork(db)
