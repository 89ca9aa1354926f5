"""Is the database ready for the lab? (the platform's tables and the lab's own, each at its head
revision)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from qulab.core import Database, current_revision
from qulab.lab.migrate import LAB_MIGRATIONS
from qulab.platform import MIGRATIONS


class SchemaState(StrEnum):
    READY = "ready"
    MISSING = "missing"
    OUTDATED = "outdated"


@dataclass(frozen=True)
class SchemaStatus:
    state: SchemaState
    current: str | None
    head: str | None

    @property
    def ready(self) -> bool:
        return self.state is SchemaState.READY


async def schema_status(db: Database) -> SchemaStatus:
    """Compare the database's Alembic revisions with the code's; raises ServiceUnavailable.

    The platform's revision is the one shown; the lab's is named only when it alone is behind
    (the same setup brings both up)."""
    head = MIGRATIONS.head()
    current = await current_revision(db)
    if current is None:
        return SchemaStatus(SchemaState.MISSING, current, head)
    if current != head:
        return SchemaStatus(SchemaState.OUTDATED, current, head)
    lab_head = LAB_MIGRATIONS.head()
    lab_current = await LAB_MIGRATIONS.current(db)
    if lab_current != lab_head:
        return SchemaStatus(
            SchemaState.OUTDATED,
            f"{current} (lab {lab_current or 'none'})",
            f"{head} (lab {lab_head})",
        )
    return SchemaStatus(SchemaState.READY, current, head)
