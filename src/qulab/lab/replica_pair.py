"""A primary and a streaming standby for a learner's own machine (``qulab lab replica``).

The pair lives in one directory (by default ``qulab-replica-<uid>`` in the system's temporary
directory, which the ``postgres`` user can reach when the learner is root), with a ``pair.json``
naming its ports. ``up`` starts it (creating it the first time: ``initdb``, a ``qulab``
database, ``pg_basebackup``), ``down`` stops it and deletes the directory, ``status`` says
whether each server runs and where. The servers are the ones the tests start
(``qulab.lab.private_postgres``). The primary runs with ``wal_level=logical``: it still streams to
the standby, and the same pair serves the log-tailing relay (``QULAB_RELAY_MODE=wal``) and the
lab's polling vs log-tailing step.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qulab.core import Settings, UserError, open_database
from qulab.lab.private_postgres import PostgresServer, PrivateCluster, start_primary

DATABASE = "qulab"
STATE = "pair.json"
PRIMARY_SETTINGS = {"wal_level": "logical"}


def default_directory() -> Path:
    return Path(tempfile.gettempdir()) / f"qulab-replica-{os.getuid()}"


@dataclass(frozen=True)
class PairStatus:
    directory: Path
    exists: bool
    primary_port: int | None
    standby_port: int | None
    primary_running: bool
    standby_running: bool

    @property
    def primary_url(self) -> str | None:
        return None if self.primary_port is None else _url(self.primary_port)

    @property
    def replica_url(self) -> str | None:
        return None if self.standby_port is None else _url(self.standby_port)

    def environment(self) -> list[str]:
        """The lines that point QuLab at the pair (empty when there is none)."""
        if self.primary_url is None or self.replica_url is None:
            return []
        return [
            f"QULAB_DATABASE_URL={self.primary_url}",
            f"QULAB_DATABASE_REPLICA_URLS={self.replica_url}",
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "exists": self.exists,
            "primary_url": self.primary_url,
            "replica_url": self.replica_url,
            "primary_running": self.primary_running,
            "standby_running": self.standby_running,
            "environment": self.environment(),
        }


def _url(port: int) -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/{DATABASE}"


def _cluster(directory: Path) -> PrivateCluster | None:
    """The pair recorded in ``directory``, or None when there is none."""
    try:
        state = json.loads((directory / STATE).read_text(encoding="utf-8"))
        primary_port, standby_port = int(state["primary_port"]), int(state["standby_port"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"{directory / STATE} is not a replica pair's record: {error}") from None
    primary = PostgresServer(directory / "primary", primary_port, dict(state.get("settings", {})))
    standby = PostgresServer(directory / "standby1", standby_port, dict(primary.settings))
    return PrivateCluster(directory, primary, [standby])


def status(directory: Path) -> PairStatus:
    cluster = _cluster(directory)
    if cluster is None:
        return PairStatus(directory, directory.exists(), None, None, False, False)
    [standby] = cluster.standbys
    return PairStatus(
        directory,
        True,
        cluster.primary.port,
        standby.port,
        cluster.primary.running(),
        standby.running(),
    )


def up(directory: Path) -> PairStatus:
    """Start the pair in ``directory``, creating it first if it is not there yet."""
    cluster = _cluster(directory)
    if cluster is None:
        if directory.exists() and any(directory.iterdir()):
            raise UserError(f"{directory} exists and holds no replica pair: choose another --dir")
        _create(directory)
    else:
        for server in cluster.servers():
            if not server.running():
                server.start()
    return status(directory)


def _create(directory: Path) -> None:
    cluster = start_primary(PRIMARY_SETTINGS, base=directory)
    try:
        asyncio.run(_create_database(cluster.primary))
        standby = cluster.add_standby()
        record = {
            "primary_port": cluster.primary.port,
            "standby_port": standby.port,
            "settings": cluster.primary.settings,
        }
        (directory / STATE).write_text(json.dumps(record, indent=2), encoding="utf-8")
    except BaseException:
        cluster.remove()
        raise


async def _create_database(primary: PostgresServer) -> None:
    settings = Settings().replace(database_url=primary.url(), database_replica_urls="")
    db = open_database(settings, null_pool=True)
    try:
        async with db.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await db.dispose()


def down(directory: Path) -> PairStatus:
    """Stop the pair and delete its directory; nothing to do when there is none."""
    cluster = _cluster(directory)
    if cluster is not None:
        cluster.remove()
    return status(directory)
