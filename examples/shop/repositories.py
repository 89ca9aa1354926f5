"""The shop's repositories: the core's verbs (``get``, ``list``, ``add``, ``update``...) over its
models, and the meaning of its one unique column."""

from __future__ import annotations

from typing import Any

from examples.shop.models import Order, Product
from qulab.core import DuplicateError, IntegrityFailure, Repository, UserError, Write


class ProductRepository(Repository[Product]):
    model = Product
    id_field = "product_id"
    default_order = (Product.created_at, Product.id)

    def refused(
        self,
        failure: IntegrityFailure,
        write: Write,
        *,
        row: Product | None = None,
        ident: Any = None,
    ) -> UserError:
        if row is not None and failure.is_unique("products", "sku"):
            return DuplicateError(f"sku: a product with SKU {row.sku} already exists")
        return super().refused(failure, write, row=row, ident=ident)


class OrderRepository(Repository[Order]):
    model = Order
    id_field = "order_id"
    default_order = (Order.created_at, Order.id)
