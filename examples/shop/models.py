"""The shop's tables, on its own declarative base: products, orders, and ``product_sales``, the
projection the sales consumer keeps (no service writes it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from qulab.core import TimestampMixin, UTCDateTime, new_id


class Base(AsyncAttrs, DeclarativeBase):
    """The shop's tables; the core's (outbox, inbox) live on ``qulab.core.models.metadata``."""


class Product(Base, TimestampMixin):
    __tablename__ = "products"
    # The database keeps stock from going negative, even when two orders race for the last one.
    __table_args__ = (CheckConstraint("stock >= 0", name="ck_products_stock"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    sku: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(200))
    price_cents: Mapped[int]
    stock: Mapped[int]


class Order(Base, TimestampMixin):
    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[int]
    total_cents: Mapped[int]


class ProductSales(Base):
    """Per product: how many orders, units and cents of revenue the consumer has applied."""

    __tablename__ = "product_sales"

    product_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    orders: Mapped[int]
    units: Mapped[int]
    revenue_cents: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
