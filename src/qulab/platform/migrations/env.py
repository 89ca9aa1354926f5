"""Alembic environment of the platform's schema: the core's tables and the platform's own."""

from __future__ import annotations

from qulab.core.migrate import run_environment
from qulab.platform.models import METADATA

run_environment(METADATA)
