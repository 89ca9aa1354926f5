"""The lab's knowledge-check progress: one row per (learner, page, question).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lab_progress",
        sa.Column("learner", sa.String(100), nullable=False),
        sa.Column("page", sa.String(50), nullable=False),
        sa.Column("question_id", sa.String(100), nullable=False),
        sa.Column("correct", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("learner", "page", "question_id"),
    )


def downgrade() -> None:
    op.drop_table("lab_progress")
