"""What the shop's services record: each event names its wire type, its aggregate and the field
holding the aggregate's id; the payload is its fields."""

from __future__ import annotations

from dataclasses import dataclass

from qulab.core import Event


@dataclass(frozen=True)
class ProductAdded(Event, type="shop.product_added", aggregate="Product", key="product_id"):
    product_id: str
    sku: str
    name: str
    price_cents: int


@dataclass(frozen=True)
class PriceChanged(Event, type="shop.price_changed", aggregate="Product", key="product_id"):
    product_id: str
    old_cents: int
    new_cents: int


@dataclass(frozen=True)
class OrderPlaced(Event, type="shop.order_placed", aggregate="Order", key="order_id"):
    order_id: str
    product_id: str
    quantity: int
    total_cents: int
