"""The cached read model: a product as the storefront shows it, read through the cache.

``product:{id}`` holds a ``ProductView``. A price change or an order (which changes the stock)
makes the product's entry stale: after each commit the cache drops it, and the relay drops it
again after publishing the event, in case the writer could not reach the cache.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from examples.shop.events import OrderPlaced, PriceChanged
from examples.shop.repositories import ProductRepository
from qulab.core import CacheResult, Family, Runtime, Settings, SettingsGroup, validate_id

PRODUCT = "product"


class ShopSettings(SettingsGroup):
    """The shop's own settings, read from the environment beside QuLab's
    (``SHOP_PRODUCT_TTL``): how long a product stays cached, in seconds."""

    env_prefix = "SHOP_"

    product_ttl: float = Field(600.0, gt=0)


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
    ttl = settings.group(ShopSettings).product_ttl
    return (Family(PRODUCT, ProductView, ttl, invalidated_by=stale),)


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
