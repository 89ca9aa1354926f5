"""AppTest fixtures: each test gets its own database and a fresh set of app resources."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st

_QULAB_SERVICE_VARS = ("QULAB_REDIS_URL", "QULAB_BROKER_URL", "QULAB_POOL_SIZE")


@pytest.fixture(autouse=True)
def fresh_app_resources() -> Iterator[None]:
    """No loop, engine or pool survives from one test to the next (as after a restart)."""
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in _QULAB_SERVICE_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env, and a relative SQLite path stays in tmp


@pytest.fixture(params=["sqlite", "postgresql"])
def lab_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty database the app is pointed at through QULAB_DATABASE_URL."""
    if request.param == "postgresql":
        url = str(request.getfixturevalue("fresh_pg_url"))
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'lab.db'}"
    monkeypatch.setenv("QULAB_DATABASE_URL", url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'lab.db'}"
    monkeypatch.setenv("QULAB_DATABASE_URL", url)
    return url
