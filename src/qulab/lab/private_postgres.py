"""Private PostgreSQL servers on a port of their own: a primary (say with ``wal_level=logical``)
and streaming standbys made from it with ``pg_basebackup``.

The lab starts them for a learner (replicas, the log-tailing relay) and the tests start the same
ones, once per session. They use the installed PostgreSQL binaries (Debian keeps them in
``/usr/lib/postgresql/<version>/bin``), trust authentication on 127.0.0.1 only, and a directory
that ``remove`` deletes whole. Run as root, every server command runs as the ``postgres`` user,
which owns the directory.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qulab.core import ConfigurationError, ServiceUnavailable

DEBIAN_BINARIES = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"
START_SECONDS = 60


def binaries() -> Path:
    """The directory holding ``initdb``, ``pg_ctl`` and ``pg_basebackup`` (newest version)."""
    versions = sorted(
        (p for p in DEBIAN_BINARIES.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1]
    found = shutil.which("initdb")
    if found and (Path(found).parent / "pg_basebackup").exists():
        return Path(found).parent
    raise ConfigurationError(
        "PostgreSQL's server programs (initdb, pg_ctl, pg_basebackup) are not installed; "
        "on Debian: apt-get install postgresql"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user() -> list[str]:
    return ["runuser", "-u", SERVER_USER, "--"] if os.geteuid() == 0 else []


def _run(args: Sequence[str], what: str) -> None:
    done = subprocess.run(  # noqa: S603 - our own argv, never a shell
        [*_as_server_user(), *args], capture_output=True, text=True, check=False, timeout=300
    )
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise ServiceUnavailable(f"{what} failed: {detail[-1] if detail else done.returncode}")


def _own(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, SERVER_USER, SERVER_USER)


@dataclass
class PostgresServer:
    """One private server: its data directory, port and log file."""

    data_dir: Path
    port: int
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        """The same address for a plain driver (asyncpg, psycopg)."""
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = [f"-p {self.port}", "-c listen_addresses=127.0.0.1", f"-k {self.data_dir}"]
        options += [f"-c {name}={value}" for name, value in self.settings.items()]
        _run(
            [
                str(binaries() / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                " ".join(options),
                "-w",
                "-t",
                str(START_SECONDS),
                "start",
            ],
            f"starting PostgreSQL on port {self.port}",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``immediate`` is a crash, as a kill would be); no error if it is
        not running."""
        if not self.running():
            return
        _run(
            [str(binaries() / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"],
            f"stopping PostgreSQL on port {self.port}",
        )

    def running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()


@dataclass
class PrivateCluster:
    """A primary and its standbys under one directory; ``remove`` stops them all and deletes it."""

    base: Path
    primary: PostgresServer
    standbys: list[PostgresServer] = field(default_factory=list)

    def add_standby(self, settings: Mapping[str, str] | None = None) -> PostgresServer:
        """A streaming standby of the primary (``pg_basebackup -R``), started and replaying."""
        data_dir = self.base / f"standby{len(self.standbys) + 1}"
        _run(
            [
                str(binaries() / "pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.primary.port),
                "-U",
                SERVER_USER,
                "-D",
                str(data_dir),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            ],
            "copying the primary for a standby (pg_basebackup)",
        )
        standby = PostgresServer(
            data_dir, free_port(), {**self.primary.settings, **(settings or {})}
        )
        standby.start()
        self.standbys.append(standby)
        return standby

    def servers(self) -> list[PostgresServer]:
        return [self.primary, *self.standbys]

    def stop(self) -> None:
        for server in reversed(self.servers()):
            server.stop()

    def remove(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


def start_primary(
    settings: Mapping[str, str] | None = None, *, port: int | None = None, base: Path | None = None
) -> PrivateCluster:
    """Initialise and start a private primary (``settings`` become ``-c name=value``)."""
    if base is None:
        base = Path(tempfile.mkdtemp(prefix="qulab-postgres-"))
    else:
        base.mkdir(parents=True, exist_ok=True)
    _own(base)
    data_dir = base / "primary"
    _run(
        [
            str(binaries() / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            SERVER_USER,
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        ],
        "initialising a private PostgreSQL (initdb)",
    )
    merged = {"max_wal_senders": "10", "max_replication_slots": "10", **(settings or {})}
    primary = PostgresServer(data_dir, port or free_port(), merged)
    cluster = PrivateCluster(base, primary)
    try:
        primary.start()
    except BaseException:
        cluster.remove()
        raise
    return cluster
