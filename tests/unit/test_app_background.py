"""The app's background task: started once while it runs, stopped politely or cancelled, its
crash kept, and its finish run exactly once however the work ended."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import pytest

from qulab.entrypoints.app.background import BackgroundTask, Work, release
from qulab.entrypoints.app.loop import LoopThread


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    runner = LoopThread("test-background")
    try:
        yield runner
    finally:
        runner.stop()


class Worker:
    """Runs until stopped (or, with ``deaf``, until cancelled); counts its finishes."""

    def __init__(self, *, deaf: bool = False, fail: str | None = None) -> None:
        self.deaf = deaf
        self.fail = fail
        self.finished = 0
        self._stop = asyncio.Event()

    async def run(self) -> str:
        if self.fail:
            raise RuntimeError(self.fail)
        while not self._stop.is_set() or self.deaf:
            await asyncio.sleep(0.01)
        return "done"

    def stop(self) -> None:
        self._stop.set()

    async def finish(self) -> None:
        self.finished += 1

    def work(self) -> Work[str]:
        return Work(self.run, self.stop, self.finish)


def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_running_task_is_not_started_twice_and_stops_when_asked(loop_thread: LoopThread) -> None:
    task: BackgroundTask[str] = BackgroundTask(loop_thread, name="t", label="w", timeout=5)
    worker = Worker()
    assert task.start(worker.work)
    assert not task.start(Worker().work)
    assert task.running and task.started_at is not None and task.stopped_at is None
    assert task.stop()
    assert not task.running
    assert (worker.finished, task.crash) == (1, None)
    assert task.stopped_at is not None
    assert not task.stop()


def test_a_crash_is_kept_and_the_work_still_finishes(loop_thread: LoopThread) -> None:
    task: BackgroundTask[str] = BackgroundTask(loop_thread, name="t", label="w", timeout=5)
    worker = Worker(fail="broker gone")
    assert task.start(worker.work)
    wait_until(lambda: not task.running)
    assert task.crash == "RuntimeError: broker gone"
    assert worker.finished == 1
    # Started again, the crash of the last run is forgotten.
    again = Worker()
    assert task.start(again.work)
    assert task.crash is None
    task.stop()


def test_without_restart_work_that_ended_is_not_started_again(loop_thread: LoopThread) -> None:
    task: BackgroundTask[str] = BackgroundTask(loop_thread, name="t", label="w", timeout=5)
    assert task.start(Worker(fail="first").work, restart=False)
    wait_until(lambda: not task.running)
    assert not task.start(Worker().work, restart=False)
    assert task.crash == "RuntimeError: first"


def test_work_that_does_not_stop_is_cancelled_and_finishes_once(loop_thread: LoopThread) -> None:
    task: BackgroundTask[str] = BackgroundTask(loop_thread, name="t", label="w", timeout=1.5)
    worker = Worker(deaf=True)
    assert task.start(worker.work)
    started = time.monotonic()
    assert task.stop()
    assert 0.4 < time.monotonic() - started < 1.5  # waited timeout - 1 s, then cancelled
    assert not task.running
    assert worker.finished == 1


def test_what_building_the_work_raises_reaches_the_caller_and_starts_nothing(
    loop_thread: LoopThread,
) -> None:
    task: BackgroundTask[str] = BackgroundTask(loop_thread, name="t", label="w", timeout=5)

    def refuse() -> Work[str]:
        raise PermissionError("another relay holds the lock")

    with pytest.raises(PermissionError, match="another relay"):
        task.start(refuse)
    assert not task.started and not task.running


def test_stopping_the_loop_stops_the_work_first(loop_thread: LoopThread) -> None:
    task: BackgroundTask[str] = BackgroundTask(loop_thread, name="t", label="w", timeout=5)
    worker = Worker()
    assert task.start(worker.work)
    loop_thread.stop()
    assert (worker.finished, task.crash) == (1, None)
    assert task.stopped_at is not None


def test_a_released_controller_s_work_is_stopped(loop_thread: LoopThread) -> None:
    task: BackgroundTask[str] = BackgroundTask(loop_thread, name="t", label="w", timeout=5)
    worker = Worker()
    assert task.start(worker.work)
    release(SimpleNamespace(task=task))
    assert not task.running
    assert worker.finished == 1
