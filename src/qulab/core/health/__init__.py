"""``qulab doctor``'s checks: one line per configured component, each bounded in time.

The database's lines (reachable, schema, relay, clock) run one after another on one engine and
are skipped when it cannot be reached; the cache and the broker are probed alongside them.
"""

from __future__ import annotations

import asyncio

from qulab.core.bootstrap import open_database
from qulab.core.config import Settings
from qulab.core.health.broker import check_broker, check_cache, check_nats, check_rabbitmq
from qulab.core.health.check import Check, Status, bounded, exit_code
from qulab.core.health.database import (
    check_clock,
    check_reachable,
    check_schema,
    missing_sqlite_file,
)
from qulab.core.health.relay import RelayActivity, check_relay, relay_activity
from qulab.core.health.replicas import check_replicas
from qulab.core.migrate import Migrations

__all__ = [
    "Check",
    "RelayActivity",
    "Status",
    "check_broker",
    "check_nats",
    "check_rabbitmq",
    "check_replicas",
    "exit_code",
    "relay_activity",
    "run_checks",
]

DEFAULT_TIMEOUT = 3.0
AFTER_THE_DATABASE = ("schema", "relay", "clock")


async def run_checks(
    settings: Settings, migrations: Migrations, within: float = DEFAULT_TIMEOUT
) -> list[Check]:
    """Every component's line, in a fixed order: database, each read replica (when
    configured), schema (against ``migrations``' head), cache, broker, relay, clock."""
    database, cache, broker = await asyncio.gather(
        _database_checks(settings, migrations, within),
        bounded("cache", check_cache(settings.cache), within),
        bounded("broker", check_broker(settings.broker, within), within),
    )
    reach, *replicas, schema, relay, clock = database
    return [reach, *replicas, schema, cache, broker, relay, clock]


async def _database_checks(
    settings: Settings, migrations: Migrations, within: float
) -> list[Check]:
    missing = missing_sqlite_file(settings.database.url)
    if missing is not None:
        detail = f"SQLite {missing} does not exist yet: run `qulab setup`"
        return _then_skipped(Check("database", Status.MISCONFIGURED, detail), "no database")
    db = open_database(settings)
    try:
        reach = await bounded("database", check_reachable(db), within)
        replicas = await check_replicas(db, within)
        if reach.status is not Status.OK:
            first, *rest = _then_skipped(reach, "the database cannot be reached")
            return [first, *replicas, *rest]
        schema = await bounded("schema", check_schema(db, migrations), within)
        if schema.status is Status.MISCONFIGURED:
            relay = Check("relay", Status.SKIPPED, "no schema")
        else:
            relay = await bounded("relay", check_relay(db), within)
        clock = await bounded("clock", check_clock(db), within)
        return [reach, *replicas, schema, relay, clock]
    finally:
        await db.dispose()


def _then_skipped(first: Check, reason: str) -> list[Check]:
    return [first, *(Check(name, Status.SKIPPED, reason) for name in AFTER_THE_DATABASE)]
