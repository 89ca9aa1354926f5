"""``QuLab.close()`` closes in order (cache, publisher, engine last) and the engine is disposed
even when closing the cache fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from qulab.core.bootstrap import Application, Runtime
from qulab.core.bus import MessageBus
from qulab.core.cache import Cache
from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.core.migrate import Migrations
from qulab.core.outbox import Publisher


class _Closing:
    def __init__(self, name: str, log: list[str], *, fails: bool = False) -> None:
        self.name, self.log, self.fails = name, log, fails
        self.bus = MessageBus()

    async def _closed(self) -> None:
        self.log.append(self.name)
        if self.fails:
            raise RuntimeError(f"{self.name} would not close")

    async def close(self) -> None:
        await self._closed()

    async def dispose(self) -> None:
        await self._closed()

    def unsubscribe(self, bus: MessageBus) -> None:
        self.log.append(f"unsubscribe {self.name}")


APPLICATION = Application("test", Migrations(Path(".")))


def _lab(log: list[str], *, cache_fails: bool = False) -> Runtime:
    db, cache = _Closing("engine", log), _Closing("cache", log, fails=cache_fails)
    publisher = _Closing("publisher", log)
    runtime = Runtime(APPLICATION, Settings(), cast(Database, db), cast(Cache, cache))
    runtime._publisher = cast(Publisher, publisher)  # as if built on first use
    return runtime


async def test_close_runs_in_order_once() -> None:
    log: list[str] = []
    runtime = _lab(log)
    await runtime.close()
    await runtime.close()
    assert log == ["unsubscribe cache", "cache", "publisher", "engine"]


async def test_the_engine_is_disposed_even_when_the_cache_fails_to_close() -> None:
    log: list[str] = []
    runtime = _lab(log, cache_fails=True)
    with pytest.raises(RuntimeError, match="cache would not close"):
        await runtime.close()
    assert log[-1] == "engine"


async def test_an_unused_publisher_is_never_built(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> Publisher:
        raise AssertionError("built a publisher nobody asked for")

    monkeypatch.setattr("qulab.core.bootstrap.build_publisher", refuse)
    log: list[str] = []
    runtime = Runtime(
        APPLICATION,
        Settings(),
        cast(Database, _Closing("engine", log)),
        cast(Cache, _Closing("c", log)),
    )
    await runtime.close()
    assert log == ["unsubscribe c", "c", "engine"]
