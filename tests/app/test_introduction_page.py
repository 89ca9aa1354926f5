"""The Introduction page and the sidebar every page shares."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.helpers import no_exception, open_runtime, texts
from tests.services import free_port


def _page_text(at: AppTest) -> str:
    return "\n".join(texts(at.markdown))


def test_introduction_presents_persona_challenge_objectives_tools_and_concepts(
    sqlite_url: str,
) -> None:
    at = open_runtime()
    no_exception(at)
    assert at.title[0].value.startswith("Data Architecture & Persistence")
    text = _page_text(at)
    assert "You are Alex" in text
    assert "The challenge." in text
    for objective in ("Remember", "Understand", "Apply", "Analyze", "Create"):
        assert f"**{objective}**" in text
    for tool in ("PostgreSQL", "SQLAlchemy 2.0", "Alembic", "Redis", "asyncpg / aiosqlite"):
        assert f"**{tool}**" in text
    assert "The N+1 query problem" in text
    assert [sub.value for sub in at.subheader] == [
        "Key objectives",
        "Key concepts",
        "Tools",
        "Architecture",
        "Knowledge check",
    ]


def test_architecture_diagram_is_drawn_from_the_running_configuration(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_runtime()
    spec = at.get("graphviz_chart")[0].proto.spec
    assert spec.startswith("digraph architecture {")
    assert "SQLite file" in spec and "in-process cache" in spec and "in-memory broker" in spec

    monkeypatch.setenv("QULAB_REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("QULAB_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/")
    spec = open_runtime().get("graphviz_chart")[0].proto.spec
    assert 'cachestore [label="Redis"]' in spec
    assert 'broker [label="RabbitMQ"]' in spec


def test_sidebar_shows_the_database_file_and_the_embedded_cache_and_broker(
    sqlite_url: str,
) -> None:
    at = open_runtime()
    sidebar = texts(at.sidebar.markdown)
    database_file = sqlite_url.removeprefix("sqlite+aiosqlite:///")
    assert f"**Database:** `SQLite {database_file}`" in sidebar
    assert "**Schema:** :orange[not initialised]" in sidebar
    assert any(line.startswith("**Cache (configured):** in-process") for line in sidebar)
    assert any(line.startswith("**Broker (configured):** in-memory") for line in sidebar)


def test_sidebar_shows_configured_services_without_their_passwords(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QULAB_REDIS_URL", "redis://:s3cret@127.0.0.1:6379/2")
    monkeypatch.setenv("QULAB_BROKER_URL", "amqp://guest:hunter2@127.0.0.1:5672/")
    sidebar = "\n".join(texts(open_runtime().sidebar.markdown))
    assert "redis://:***@127.0.0.1:6379/2" in sidebar
    assert "amqp://guest:***@127.0.0.1:5672/" in sidebar
    assert "s3cret" not in sidebar and "hunter2" not in sidebar


def test_invalid_configuration_shows_what_to_fix_instead_of_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QULAB_DATABASE_URL", "mysql://somewhere/db")
    at = open_runtime()
    no_exception(at)
    [error] = texts(at.error)
    assert error.startswith("The configuration is invalid: QULAB_DATABASE_URL")
    assert "restart the app" in error


def test_sidebar_live_lines_show_services_without_their_passwords(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = f"redis://:***@127.0.0.1:{free_port()}/2"
    amqp = f"amqp://guest:***@127.0.0.1:{free_port()}/"
    monkeypatch.setenv("QULAB_REDIS_URL", redis.replace("***", "s3cret"))
    monkeypatch.setenv("QULAB_BROKER_URL", amqp.replace("***", "hunter2"))
    sidebar = texts(open_runtime().sidebar.markdown)
    [cache_live] = [line for line in sidebar if line.startswith("**Cache (live):**")]
    [broker_live] = [line for line in sidebar if line.startswith("**Broker (live):**")]
    assert f"at {redis}, not answering" in cache_live
    assert f"`{amqp} exchange qulab.outbox`" in broker_live
    assert not any("s3cret" in line or "hunter2" in line for line in sidebar)


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("DATABASE_URL", "mysql://u:s3cret@h/x", "mysql://u:***@h/x"),
        ("REDIS_URL", "redis://u:s3cret@h:port/0", "redis://u:***@h:port/0"),
        ("BROKER_URL", "kafka://u:s3cret@h/x", "kafka://u:***@h/x"),
    ],
)
def test_invalid_configuration_is_shown_without_the_password(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, shown: str
) -> None:
    monkeypatch.setenv(f"QULAB_{name}", value)
    at = open_runtime()
    no_exception(at)
    page = "\n".join([*texts(at.error), *texts(at.markdown), *texts(at.sidebar.markdown)])
    assert "s3cret" not in page
    [error] = texts(at.error)
    assert error.startswith(f"The configuration is invalid: QULAB_{name}") and shown in error
