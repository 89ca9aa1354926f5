"""The core's tables as this QuLab release shapes them (the log-tailing relay's
``outbox_wal_slots`` and ``outbox_failures``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from qulab.core import upgrade_core_tables

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    upgrade_core_tables()


def downgrade() -> None:
    """Nothing: the tables 0001 may have made itself stay, unused by an older QuLab."""
