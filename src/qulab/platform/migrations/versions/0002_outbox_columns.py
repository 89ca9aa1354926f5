"""Outbox bookkeeping on domain_events: sequence, attempts, last error, next attempt time.

``sequence`` orders events by insertion. PostgreSQL makes it an identity column. SQLite has no
sequences outside the rowid primary key, so the column defaults to 0 and an AFTER INSERT trigger
replaces that with max(sequence) + 1 (SQLite has one writer at a time, so this cannot race).
A later SQLite migration that rebuilds ``domain_events`` in batch mode must recreate the trigger.

Existing rows are numbered in (created_at, id) order.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "domain_events"
PENDING = sa.text("status = 'pending'")

SQLITE_TRIGGER = """
CREATE TRIGGER trg_domain_events_sequence AFTER INSERT ON domain_events
FOR EACH ROW WHEN NEW.sequence = 0
BEGIN
    UPDATE domain_events SET sequence = (SELECT coalesce(max(sequence), 0) + 1 FROM domain_events)
    WHERE rowid = NEW.rowid;
END
"""

RENUMBER = """
UPDATE domain_events SET sequence = ordered.n
FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS n FROM domain_events) AS ordered
WHERE domain_events.id = ordered.id
"""


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.add_column(
            TABLE,
            sa.Column("sequence", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        )
    else:
        op.add_column(TABLE, sa.Column("sequence", sa.BigInteger(), sa.Identity(), nullable=False))
    op.add_column(
        TABLE, sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0"))
    )
    op.add_column(TABLE, sa.Column("last_error", sa.Text(), nullable=True))
    op.add_column(TABLE, sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(RENUMBER)
    if sqlite:
        op.execute(SQLITE_TRIGGER)
    op.create_index("ix_domain_events_sequence", TABLE, ["sequence"], unique=True)
    op.create_index(
        "ix_events_pending_sequence",
        TABLE,
        ["sequence"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS trg_domain_events_sequence")
    op.drop_index("ix_events_pending_sequence", table_name=TABLE)
    op.drop_index("ix_domain_events_sequence", table_name=TABLE)
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_column("next_attempt_at")
        batch.drop_column("last_error")
        batch.drop_column("attempts")
        batch.drop_column("sequence")
