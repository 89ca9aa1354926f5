"""The lab's knowledge-check progress: one row per (learner, page, question).

A database the platform's revision 0006 brought up before the lab had migrations of its own
already holds this table; it is kept as it is, with its rows.

Revision ID: lab0001
Revises:
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "lab0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("lab_progress"):
        return
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
