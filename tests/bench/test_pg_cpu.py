"""``bench.pg_cpu`` counts a backend that ends while the processes are read exactly once.

The race (a child reaped between reading the postmaster and walking ``/proc``) cannot be
produced on demand with real processes, so ``_stat`` and the ``/proc`` listing are replaced by
a scripted process table; the real ``/proc`` is read by the last test."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from bench import pg_cpu

POSTMASTER = 100
BACKEND = 200


def _fields(ppid: int, utime: int, cutime: int = 0) -> list[str]:
    """``/proc/<pid>/stat`` after the command name: state, ppid, ..., utime (11), stime (12),
    cutime (13), cstime (14)."""
    fields = ["S", str(ppid), *["0"] * 9, str(utime), "0", str(cutime), "0", "0"]
    return fields


class _Table:
    """A postmaster with one backend that used 50 ticks; the backend is reaped (its time moves
    into the postmaster's ``cutime``) after ``reap_after`` reads of the postmaster."""

    def __init__(self, reap_after: int) -> None:
        self.reads = 0
        self.reap_after = reap_after

    @property
    def reaped(self) -> bool:
        return self.reads >= self.reap_after

    def stat(self, pid: int) -> list[str] | None:
        if pid == POSTMASTER:
            reaped = self.reaped
            self.reads += 1
            return _fields(1, 7, cutime=50 if reaped else 0)
        if pid == BACKEND:
            return None if self.reaped else _fields(POSTMASTER, 50)
        return None

    def entries(self) -> list[Path]:
        return [Path(str(POSTMASTER)), Path(str(BACKEND))]


@pytest.mark.parametrize("reap_after", [0, 1, 2, 5])
def test_a_backend_reaped_while_the_processes_are_read_counts_once(
    monkeypatch: pytest.MonkeyPatch, reap_after: int
) -> None:
    table = _Table(reap_after)
    monkeypatch.setattr(pg_cpu, "_stat", table.stat)
    fake_proc: Any = type("Proc", (), {"iterdir": staticmethod(table.entries)})
    monkeypatch.setattr(pg_cpu, "PROC", fake_proc)

    assert pg_cpu.cpu_ticks(POSTMASTER) == 7 + 50


def test_the_real_process_table_counts_this_process_and_its_children() -> None:
    """Read as a postmaster, this test's own process has its time counted and grows."""
    pid = os.getpid()
    first = pg_cpu.cpu_ticks(pid)
    sum(i * i for i in range(3_000_000))  # burn a few ticks of CPU
    assert pg_cpu.cpu_ticks(pid) > first > 0
