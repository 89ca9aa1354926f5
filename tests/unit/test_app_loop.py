"""The app's loop thread: one loop, results and errors carried back, timeouts cancel the work."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.entrypoints.app.errors import LoopStopped, OperationTimedOut
from qulab.entrypoints.app.loop import LoopThread


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    runner = LoopThread("test-loop")
    try:
        yield runner
    finally:
        runner.stop()


def test_work_runs_on_the_loop_thread_and_returns_its_result(loop_thread: LoopThread) -> None:
    async def where() -> str:
        await asyncio.sleep(0)
        return threading.current_thread().name

    assert loop_thread.run(where(), timeout=5) == "test-loop"
    assert loop_thread.run(where(), timeout=5) == "test-loop"


def test_the_work_s_own_exception_reaches_the_caller_unchanged(loop_thread: LoopThread) -> None:
    async def fail() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        loop_thread.run(fail(), timeout=5)

    async def own_timeout() -> None:
        raise TimeoutError("raised by the work itself")

    with pytest.raises(TimeoutError, match="raised by the work itself") as caught:
        loop_thread.run(own_timeout(), timeout=5)
    assert not isinstance(caught.value, OperationTimedOut)


def test_a_timeout_cancels_the_work_and_raises_operation_timed_out(
    loop_thread: LoopThread,
) -> None:
    cancelled = threading.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(OperationTimedOut) as caught:
        loop_thread.run(slow(), timeout=0.05)
    assert caught.value.seconds == 0.05
    assert cancelled.wait(5)
    assert loop_thread.run(asyncio.sleep(0, result="still serving"), timeout=5) == "still serving"


def test_running_from_the_loop_thread_itself_raises_instead_of_deadlocking(
    loop_thread: LoopThread,
) -> None:
    async def nested() -> str:
        try:
            loop_thread.run(asyncio.sleep(0), timeout=1)
        except RuntimeError as error:
            return str(error)
        return "no error"

    assert "would deadlock" in loop_thread.run(nested(), timeout=5)


def test_stop_runs_the_closers_on_the_loop_then_refuses_new_work() -> None:
    runner = LoopThread("closing-loop")
    closed_on: list[str] = []

    async def close() -> None:
        closed_on.append(threading.current_thread().name)

    runner.add_closer(close)
    runner.stop()
    assert closed_on == ["closing-loop"]
    assert not runner.thread.is_alive()
    assert runner.loop.is_closed()
    with pytest.raises(LoopStopped):
        runner.run(asyncio.sleep(0), timeout=1)
    runner.stop()  # idempotent


def test_an_engine_built_on_the_loop_reuses_its_pooled_connection(
    loop_thread: LoopThread, tmp_path: Path
) -> None:
    async def build() -> Database:
        return Database(Settings().replace(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"))

    db = loop_thread.run(build(), timeout=5)
    loop_thread.add_closer(db.dispose)
    for _ in range(3):
        loop_thread.run(db.ping(), timeout=5)
    status = db.pool_status()
    assert (status.checked_in, status.checked_out) == (1, 0)
