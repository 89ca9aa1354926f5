"""Nothing: this revision once created the lab's ``lab_progress`` table, which the lab's own
migrations (``qulab.lab.migrate``) now create and keep. A database that went through the old
revision keeps the table and its rows; the lab's first revision adopts it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from collections.abc import Sequence

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
