"""Scratch rows for cache experiments: a table of its own, created for one run and dropped after.

Each row carries a version number that every write raises, so a reader can tell exactly how
old the value it was served is. The table is not part of the schema (no migration, no domain
events): the experiments never touch the learner's users, scores or outbox.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ConfigDict
from sqlalchemy import BigInteger, Column, MetaData, String, Table, Text, bindparam, select, update

from qulab.core import Database

log = logging.getLogger(__name__)

PAYLOAD = "x" * 200  # a read model of a realistic size


class RowRead(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    version: int
    payload: str


class ScratchRows:
    """``count`` rows ``r0 … r{count-1}`` in a table named for this run; loads are counted."""

    def __init__(self, db: Database, count: int, *, name: str | None = None) -> None:
        self.db = db
        self.count = count
        self.name = name or f"qulab_scratch_{secrets.token_hex(4)}"
        self.loads = 0
        self.table = Table(
            self.name,
            MetaData(),
            Column("id", String(36), primary_key=True),
            Column("version", BigInteger, nullable=False),
            Column("payload", Text, nullable=False),
        )
        self._load = select(self.table.c.version, self.table.c.payload).where(
            self.table.c.id == bindparam("ident")
        )
        # Never move a row backwards: a late write of an older version changes nothing.
        self._write = (
            update(self.table)
            .where(self.table.c.id == bindparam("ident"))
            .where(self.table.c.version < bindparam("new_version"))
            .values(version=bindparam("new_version"), payload=bindparam("new_payload"))
        )

    def ids(self) -> list[str]:
        return [f"r{index}" for index in range(self.count)]

    async def create(self) -> None:
        async with self.db.begin() as conn:
            await conn.run_sync(self.table.create)
            rows = [{"id": ident, "version": 0, "payload": PAYLOAD} for ident in self.ids()]
            await conn.execute(self.table.insert(), rows)

    async def drop(self) -> None:
        async with self.db.begin() as conn:
            await conn.run_sync(self.table.drop, checkfirst=True)

    async def load(self, ident: str) -> RowRead | None:
        """One SELECT by primary key (each call is a database load)."""
        self.loads += 1
        async with self.db.connect() as conn:
            found = (await conn.execute(self._load, {"ident": ident})).first()
        if found is None:
            return None
        return RowRead(id=ident, version=found.version, payload=found.payload)

    async def write(self, ident: str, version: int) -> RowRead:
        """Commit ``version`` for one row (one transaction) and return the row as written."""
        await self.write_many({ident: version})
        return RowRead(id=ident, version=version, payload=PAYLOAD)

    async def write_many(self, versions: Mapping[str, int]) -> None:
        """Commit several rows' versions in one transaction."""
        if not versions:
            return
        params = [
            {"ident": ident, "new_version": version, "new_payload": PAYLOAD}
            for ident, version in versions.items()
        ]
        async with self.db.begin() as conn:
            await conn.execute(self._write, params)

    async def versions(self, idents: Iterable[str] | None = None) -> dict[str, int]:
        """Every row's committed version (read straight from the table, not counted as loads)."""
        statement = select(self.table.c.id, self.table.c.version)
        async with self.db.connect() as conn:
            rows = (await conn.execute(statement)).all()
        wanted = None if idents is None else set(idents)
        return {row.id: row.version for row in rows if wanted is None or row.id in wanted}
