"""The core's tables as this QuLab release shapes them (``domain_events.trace_context``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from qulab.core import upgrade_core_tables

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    upgrade_core_tables()


def downgrade() -> None:
    """Nothing: the column 0001 may have made itself stays, unused by an older QuLab."""
