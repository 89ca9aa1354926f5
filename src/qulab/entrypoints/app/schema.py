"""Is the database ready for the lab? (tables present and at the head revision)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from qulab.core import Database, current_revision
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
    """Compare the database's Alembic revision with the code's; raises ServiceUnavailable."""
    head = MIGRATIONS.head()
    current = await current_revision(db)
    if current is None:
        state = SchemaState.MISSING
    elif current == head:
        state = SchemaState.READY
    else:
        state = SchemaState.OUTDATED
    return SchemaStatus(state, current, head)
