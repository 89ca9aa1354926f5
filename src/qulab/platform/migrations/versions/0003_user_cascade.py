"""The user foreign keys of assessments and air_scores cascade deletes (ON DELETE CASCADE).

Deleting a user is then one statement: the database removes their assessments and scores in
the same statement, including rows another transaction committed a moment before, so a delete
cannot fail on a score added while it ran. Tables, columns and indexes are unchanged.

SQLite cannot alter a constraint, so batch mode rebuilds the two tables (their indexes come
back with them; neither table has a trigger). The 0001 keys are unnamed on SQLite, so the
rebuild names them by ``NAMING``; on PostgreSQL they keep the names they have.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHILDREN = ("assessments", "air_scores")
NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def _user_key_name(table: str) -> str:
    """The name of ``table``'s foreign key to users (the ``NAMING`` one when unnamed)."""
    for key in sa.inspect(op.get_bind()).get_foreign_keys(table):
        if key["referred_table"] == "users" and key["constrained_columns"] == ["user_id"]:
            return key["name"] or NAMING["fk"] % {
                "table_name": table,
                "column_0_name": "user_id",
                "referred_table_name": "users",
            }
    raise RuntimeError(f"{table} has no foreign key to users")


def _replace_user_key(table: str, ondelete: str | None) -> None:
    name = _user_key_name(table)
    with op.batch_alter_table(table, naming_convention=NAMING) as batch:
        batch.drop_constraint(name, type_="foreignkey")
        batch.create_foreign_key(name, "users", ["user_id"], ["id"], ondelete=ondelete)


def upgrade() -> None:
    for table in CHILDREN:
        _replace_user_key(table, "CASCADE")


def downgrade() -> None:
    for table in CHILDREN:
        _replace_user_key(table, None)
