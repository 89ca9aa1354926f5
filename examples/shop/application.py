"""The shop as an application of QuLab's core, declared once.

``bootstrap(SHOP, settings)`` builds its runtime: the database, the cache holding its families
(subscribed to the database's bus, so every commit invalidates what it changed) and, on first
use, the publisher its relay sends to.
"""

from __future__ import annotations

from pathlib import Path

from examples.shop.projection import SalesProjection
from examples.shop.uow import ShopUnitOfWork
from examples.shop.views import families
from qulab.core import Application, Migrations

SHOP = Application(
    name="shop",
    migrations=Migrations(Path(__file__).parent / "migrations"),
    unit_of_work=ShopUnitOfWork,
    families=families,
    consumers={SalesProjection.name: SalesProjection},
)
