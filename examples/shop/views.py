"""The cached read model: a product as the storefront shows it, read through the cache.

``product:{id}`` holds a ``ProductView``. A price change or an order (which changes the stock)
makes the product's entry stale: after each commit the cache drops it, and the relay drops it
again after publishing the event, in case the writer could not reach the cache.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from examples.shop.events import OrderPlaced, PriceChanged
from examples.shop.repositories import ProductRepository
from qulab.core import CacheResult, Family, Runtime, Settings, validate_id

PRODUCT = "product"
PRODUCT_TTL = 600.0  # seconds


class ProductView(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: str
    sku: str
    name: str
    price_cents: int
    stock: int


def product_of(event: PriceChanged | OrderPlaced) -> tuple[str]:
    return (event.product_id,)


def families(settings: Settings) -> tuple[Family[ProductView]]:
    """The shop's cache families (the ``Application`` builds them from the settings)."""
    stale = {PriceChanged: product_of, OrderPlaced: product_of}
    return (Family(PRODUCT, ProductView, PRODUCT_TTL, invalidated_by=stale),)


async def read_product(shop: Runtime, product_id: str) -> CacheResult[ProductView]:
    """The product from the cache, or loaded once from the database and cached (``value`` is
    None for an unknown id; ``outcome`` says HIT, MISS or BYPASS)."""
    product_id = validate_id(product_id, "product_id")

    async def load() -> ProductView | None:
        async with shop.db.reading() as session:
            product = await ProductRepository(session).get_one_or_none(id=product_id)
            return None if product is None else ProductView.model_validate(product)

    family = shop.cache.family(PRODUCT, ProductView)
    return await shop.cache.read_through(family, product_id, load)
