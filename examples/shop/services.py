"""The shop's services: each opens one unit of work, changes rows through its repositories,
records what happened and commits both together (or neither)."""

from __future__ import annotations

from examples.shop.events import OrderPlaced, PriceChanged, ProductAdded
from examples.shop.models import Order, Product
from examples.shop.uow import ShopUnits
from examples.shop.views import ProductView
from qulab.core import ConflictError, InvalidInput


def _at_least(field: str, value: int, least: int) -> None:
    if value < least:
        raise InvalidInput(field, f"must be at least {least}, got {value}")


async def add_product(
    uow: ShopUnits, *, sku: str, name: str, price_cents: int, stock: int = 0
) -> ProductView:
    """A new product; a SKU already in use is a DuplicateError and writes nothing."""
    _at_least("price_cents", price_cents, 0)
    _at_least("stock", stock, 0)
    async with uow() as work:
        product = Product(sku=sku, name=name, price_cents=price_cents, stock=stock)
        await work.products.add(product)
        work.record(ProductAdded(product.id, product.sku, product.name, product.price_cents))
        await work.commit()
    return ProductView.model_validate(product)


async def change_price(uow: ShopUnits, product_id: str, price_cents: int) -> None:
    _at_least("price_cents", price_cents, 0)
    async with uow() as work:
        product = await work.products.get(product_id)
        old_cents = product.price_cents
        await work.products.update(product.id, price_cents=price_cents)
        work.record(PriceChanged(product.id, old_cents, price_cents))
        await work.commit()


async def place_order(uow: ShopUnits, product_id: str, quantity: int) -> str:
    """Take ``quantity`` units out of stock and record the order; returns its id. Not enough
    stock is a ConflictError and writes nothing."""
    _at_least("quantity", quantity, 1)
    async with uow() as work:
        product = await work.products.get(product_id)
        if product.stock < quantity:
            raise ConflictError(f"product {product.id}: {product.stock} in stock, {quantity} asked")
        # Decremented in SQL, so concurrent orders cannot lose one another's updates; the
        # table's CHECK refuses the one that would take the stock below zero.
        await work.products.update(product.id, stock=Product.stock - quantity)
        order = Order(
            product_id=product.id, quantity=quantity, total_cents=quantity * product.price_cents
        )
        await work.orders.add(order)
        work.record(OrderPlaced(order.id, product.id, quantity, order.total_cents))
        await work.commit()
    return order.id
