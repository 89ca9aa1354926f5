"""Start the worker for one answer, wait for it within a bound, and read what it reports."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from dataclasses import dataclass
from typing import Any

from qulab.core import Database, InvalidInput, is_sqlite_memory

CPU_SECONDS = 2.0
STATEMENT_TIMEOUT_S = 2.0
WALL_SECONDS = 60.0
KEPT_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV", "TMPDIR")


@dataclass(frozen=True)
class SandboxResult:
    """What the worker reported: rows and statements, or the sentence that refused or failed."""

    rows: list[tuple[Any, ...]] | None = None
    statements: tuple[str, ...] = ()
    refused: str | None = None
    error: str | None = None


def _rows(raw: list[list[Any]]) -> list[tuple[Any, ...]]:
    return [tuple(tuple(v) if isinstance(v, list) else v for v in row) for row in raw]


def _last_line(err: bytes) -> str:
    lines = err.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "no message"


def _ended(returncode: int, cpu_seconds: float, err: bytes) -> SandboxResult:
    if returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return SandboxResult(
            refused=f"The answer used up its {cpu_seconds:g} s of CPU time and was stopped: "
            "look for a loop that never ends. Nothing was changed."
        )
    return SandboxResult(
        error=f"The sandbox stopped (exit status {returncode}) before it could report: "
        f"{_last_line(err)}"
    )


async def run_in_sandbox(
    db: Database,
    exercise: str,
    source: str,
    *,
    cpu_seconds: float = CPU_SECONDS,
    statement_timeout: float = STATEMENT_TIMEOUT_S,
    wall_seconds: float = WALL_SECONDS,
) -> SandboxResult:
    """Run ``source`` for ``exercise`` in a worker process against ``db``'s database."""
    url = db.settings.database.url
    if is_sqlite_memory(url):
        raise InvalidInput("database", "the sandbox needs a database file or server, not :memory:")
    request = {
        "database_url": url,
        "exercise": exercise,
        "source": source,
        "cpu_seconds": cpu_seconds,
        "statement_timeout": statement_timeout,
    }
    env = {name: os.environ[name] for name in KEPT_VARIABLES if name in os.environ}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "qulab.lab.sandbox.worker",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        out, err = await asyncio.wait_for(
            process.communicate(json.dumps(request).encode()), wall_seconds
        )
    except TimeoutError:
        process.kill()
        await process.wait()
        return SandboxResult(
            refused=f"The answer did not finish within {wall_seconds:g} s and was stopped. "
            "Nothing was changed."
        )
    if process.returncode != 0:
        return _ended(process.returncode or 0, cpu_seconds, err)
    try:
        report = json.loads(out.decode().strip().splitlines()[-1])
    except (IndexError, ValueError):
        return SandboxResult(error=f"The sandbox reported nothing readable: {_last_line(err)}")
    return SandboxResult(
        rows=_rows(report["rows"]) if "rows" in report else None,
        statements=tuple(report.get("statements", ())),
        refused=report.get("refused"),
        error=report.get("error"),
    )
