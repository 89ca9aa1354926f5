"""Alembic environment of the shop: its own tables and the core's."""

from __future__ import annotations

from examples.shop.models import Base
from qulab.core import metadata, run_environment

run_environment([Base.metadata, metadata])
