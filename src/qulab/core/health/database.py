"""The database's lines: reachable (and its server version), schema at the Alembic head, and
the clock skew between this machine and the database server."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from qulab.core.db import Database
from qulab.core.health.check import Check, Status
from qulab.core.migrate import Migrations, current_revision

# Beyond this the database's timestamps (created_at, published_at, leases) and this machine's
# disagree enough to mislead an age or a lag.
SKEW_WARN_SECONDS = 1.0


def missing_sqlite_file(url: str) -> Path | None:
    """The SQLite file ``url`` names when it does not exist yet (connecting would create it)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database)
    return None if path.exists() else path


async def check_reachable(db: Database) -> Check:
    version_sql = "SELECT sqlite_version()" if db.dialect == "sqlite" else "SHOW server_version"
    async with db.connect() as conn:
        version = (await conn.execute(text(version_sql))).scalar_one()
    server = "SQLite" if db.dialect == "sqlite" else "PostgreSQL"
    return Check("database", Status.OK, f"{db.description}: reachable ({server} {version})")


async def check_schema(db: Database, migrations: Migrations) -> Check:
    current = await current_revision(db)
    head = migrations.head()
    if current == head:
        return Check("schema", Status.OK, f"at the head revision {head}")
    if current is None:
        return Check("schema", Status.MISCONFIGURED, "no schema yet: run `qulab db upgrade`")
    return Check("schema", Status.WARN, f"at {current}, head is {head}: run `qulab db upgrade`")


async def check_clock(db: Database) -> Check:
    """How far the database's clock is from this machine's, measured against the middle of
    the round trip (so the error is at most half of it)."""
    if db.dialect == "sqlite":
        return Check("clock", Status.OK, "SQLite runs on this machine: one clock")
    async with db.connect() as conn:
        before = time.time()
        server_now: datetime = (await conn.execute(text("SELECT now()"))).scalar_one()
        after = time.time()
    local_mid = datetime.fromtimestamp((before + after) / 2, UTC)
    skew = (server_now - local_mid).total_seconds()
    margin = (after - before) / 2
    direction = "ahead of" if skew >= 0 else "behind"
    detail = f"database clock {abs(skew):.3f} s {direction} this machine (±{margin:.3f} s)"
    status = Status.WARN if abs(skew) - margin > SKEW_WARN_SECONDS else Status.OK
    return Check("clock", status, detail)
