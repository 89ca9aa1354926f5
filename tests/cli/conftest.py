from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from qulab.core.config import get_settings
from qulab.entrypoints.cli import _common, main


@dataclass
class Result:
    code: int
    out: str
    err: str


Invoke = Callable[..., Result]


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "postgresql":
        return str(request.getfixturevalue("fresh_pg_url"))
    return f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
def qulab(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Invoke]:
    """Run ``qulab ARGS`` in-process against the test's database; returns code, stdout, stderr."""
    monkeypatch.setenv("QULAB_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()

    def invoke(*args: str) -> Result:
        capsys.readouterr()
        for console in (_common.out, _common.err):
            console.forget()  # type: ignore[attr-defined] # each run is a new process's
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    yield invoke
    get_settings.cache_clear()
