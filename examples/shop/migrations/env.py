"""Alembic environment of the shop: its own tables and the core's."""

from __future__ import annotations

from examples.shop.models import Base
from qulab.core.migrate import run_environment
from qulab.core.models import metadata

run_environment([Base.metadata, metadata])
