"""PostgreSQL's CPU time on a private server, read from ``/proc``: what a contender cost it.

The server's processes are the postmaster and its children (backends, the WAL writer, the
checkpointer, autovacuum). A snapshot sums, in clock ticks, every child's user and system time
and the postmaster's own, plus the postmaster's ``cutime``/``cstime``: the time of children it
has reaped, so a backend that ends between two snapshots still counts. Backends named in
``exclude`` (the benchmark's own watcher) are left out while they live.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


def postmaster_pid(data_dir: Path) -> int:
    """The server's postmaster, from the first line of its ``postmaster.pid``."""
    return int((data_dir / "postmaster.pid").read_text().splitlines()[0])


def _stat(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` after the command name: state, ppid, ... (None: gone)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()


def cpu_ticks(postmaster: int, exclude: Collection[int] = ()) -> int:
    """The server's CPU so far, in clock ticks (see the module's docstring).

    A child reaped while ``/proc`` is walked would count nowhere (gone from the walk, not yet in
    the ``cutime`` read before it) or twice: the walk is repeated until the reaped children's
    time is the same before and after it."""
    for _ in range(100):
        own = _stat(postmaster)
        if own is None:
            return 0
        children = 0
        for entry in PROC.iterdir():
            if not entry.name.isdigit() or int(entry.name) in exclude:
                continue
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == postmaster:
                children += int(fields[11]) + int(fields[12])
        after = _stat(postmaster)
        if after is None:
            return 0
        if after[13:15] == own[13:15]:  # cutime, cstime: nobody reaped meanwhile
            return sum(int(value) for value in own[11:15]) + children
    raise RuntimeError(f"PostgreSQL's processes (postmaster {postmaster}) never held still")


def seconds(ticks: int) -> float:
    return ticks / TICKS
