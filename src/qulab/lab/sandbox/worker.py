"""The sandbox's worker process: run one learner answer, print one JSON line, exit.

Started by ``qulab.lab.sandbox.run_in_sandbox`` with the request on stdin (the database URL
travels there, never on the command line). It opens its own connection, starts a read-only
transaction (``SET TRANSACTION READ ONLY`` and a ``statement_timeout`` on PostgreSQL,
``PRAGMA query_only`` on SQLite), then caps its own CPU time and memory before the learner's
code is even compiled, runs it, and rolls back whatever happened.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from qulab.core import Database, Settings, open_database
from qulab.lab.errors import AnswerFailed, Refused
from qulab.lab.exercises import BY_KEY
from qulab.lab.sandbox.guard import check_sql
from qulab.lab.sandbox.runner import load_entry, run_entry

log = logging.getLogger(__name__)

MEMORY_HEADROOM = 512 * 1024 * 1024
MAX_ROWS = 1000


def _limit_resources(cpu_seconds: float) -> None:
    """From here on: ``cpu_seconds`` more CPU time (SIGXCPU ends the process) and a bounded
    address space (a huge allocation raises MemoryError). Where the platform has no address
    space limit (macOS) the CPU limit and the lab's wall-clock bound remain."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    spent = usage.ru_utime + usage.ru_stime
    soft = int(spent + cpu_seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[0])
        size = pages * resource.getpagesize() + MEMORY_HEADROOM
        resource.setrlimit(resource.RLIMIT_AS, (size, size))
    except (OSError, ValueError):
        log.info("no address-space limit on this platform; the CPU limit still applies")


def _checked_sql(
    conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool
) -> None:
    check_sql(statement)


@asynccontextmanager
async def read_only_session(db: Database, *, checked: bool = True) -> AsyncIterator[AsyncSession]:
    """A session whose transaction the database itself keeps read-only and whose every
    statement's text is checked (``check_sql``) before it is sent (unless ``checked`` is
    false, to show the database's own refusal); rolled back on exit."""
    async with db.session() as session:
        connection = await session.connection()
        if db.dialect == "postgresql":
            await connection.exec_driver_sql("SET TRANSACTION READ ONLY")
        else:
            await connection.exec_driver_sql("PRAGMA query_only = ON")
        sync = connection.sync_connection
        if checked:
            event.listen(sync, "before_cursor_execute", _checked_sql)
        try:
            yield session
        finally:
            if checked:
                event.remove(sync, "before_cursor_execute", _checked_sql)
            await session.rollback()
            if db.dialect != "postgresql":  # the pragma outlives the transaction
                await (await session.connection()).exec_driver_sql("PRAGMA query_only = OFF")


async def _run(request: dict[str, Any]) -> dict[str, Any]:
    exercise = BY_KEY[request["exercise"]]
    settings = Settings().replace(
        database_url=request["database_url"], db_statement_timeout=request["statement_timeout"]
    )
    db = open_database(settings, null_pool=True)
    try:
        async with read_only_session(db) as session:
            _limit_resources(request["cpu_seconds"])
            try:
                entry = load_entry(exercise, request["source"])
                run = await run_entry(session, exercise, entry)
            except Refused as refusal:
                return {"refused": str(refusal)}
            except AnswerFailed as failure:
                return {"error": str(failure), "statements": list(failure.statements)}
            if len(run.rows) > MAX_ROWS:
                return {
                    "error": f"The answer returned {len(run.rows)} rows; the exercises need at "
                    f"most {MAX_ROWS}: check its joins and filters.",
                    "statements": list(run.statements),
                }
            return {"rows": run.rows, "statements": list(run.statements)}
    finally:
        await db.dispose()


def main() -> None:
    request = json.loads(sys.stdin.read())
    outcome = asyncio.run(_run(request))
    sys.stdout.write(json.dumps(outcome) + "\n")


if __name__ == "__main__":
    main()
