"""Alembic environment of a database holding nothing but the core's tables."""

from __future__ import annotations

from qulab.core.migrate import run_environment
from qulab.core.models import metadata

run_environment([metadata])
