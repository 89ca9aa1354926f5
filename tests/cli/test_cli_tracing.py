"""Tracing from the environment, across processes: ``qulab user update``, ``qulab outbox relay
--once`` and ``qulab consume … --once`` with ``QULAB_TRACING_EXPORTER=console`` each print
their spans on stderr, and the consumer's span is in the update's trace, under the publish
span. Without the ``otel`` extra, tracing off changes nothing and tracing on is one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests import services

# Runs the command line with opentelemetry unimportable, as on an install without the extra.
WITHOUT_OTEL = """
import sys
for name in ("opentelemetry", "opentelemetry.sdk", "opentelemetry.trace"):
    sys.modules[name] = None
from qulab.entrypoints.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _run(
    env: dict[str, str], *args: str, without_otel: bool = False
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("QULAB_")}
    command = (
        [sys.executable, "-c", WITHOUT_OTEL] if without_otel else [sys.executable, "-m", "qulab"]
    )
    return subprocess.run(
        [*command, *args],
        env=base | {"COLUMNS": "200"} | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _consume_once(
    env: dict[str, str], without_otel: bool = False
) -> subprocess.CompletedProcess[str]:
    """``qulab consume run score-summary --once``."""
    return _run(env, "consume", "run", "score-summary", "--once", without_otel=without_otel)


def _spans(stderr: str) -> list[dict[str, Any]]:
    """The JSON spans the console exporter wrote, among whatever else stderr holds."""
    decoder = json.JSONDecoder()
    found, at = [], stderr.find("{")
    while at != -1:
        try:
            value, end = decoder.raw_decode(stderr, at)
        except json.JSONDecodeError:
            at = stderr.find("{", at + 1)
            continue
        if isinstance(value, dict) and "context" in value:
            found.append(value)
        at = stderr.find("{", end)
    return found


@pytest.fixture
async def env(tmp_path: Path, redis_url: str) -> AsyncIterator[dict[str, str]]:
    prefix = services.unique_name("qt") + ":"
    yield {
        "QULAB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'traced.db'}",
        "QULAB_BROKER_URL": redis_url,
        "QULAB_OUTBOX_STREAM_PREFIX": prefix,
    }
    await services.delete_redis_prefix(prefix, redis_url)


def test_a_user_update_the_relay_and_the_consumer_print_one_trace(env: dict[str, str]) -> None:
    assert _run(env, "db", "upgrade").returncode == 0
    created = _run(env, "user", "create", "--email", "t@example.com", "--name", "T", "--json")
    assert created.returncode == 0, created.stderr
    user_id = json.loads(created.stdout)["id"]
    traced = env | {"QULAB_TRACING_EXPORTER": "console"}

    update = _run(traced, "user", "update", user_id, "--name", "Traced")
    assert update.returncode == 0, update.stderr
    assert update.stdout.startswith(f"updated {user_id}")  # spans go to stderr only
    relay = _run(traced, "outbox", "relay", "--once")
    assert relay.returncode == 0, relay.stderr
    consume = _consume_once(traced)
    assert consume.returncode == 0, consume.stderr

    [unit] = [s for s in _spans(update.stderr) if s["name"] == "unit of work"]
    [publish] = [s for s in _spans(relay.stderr) if s["name"] == "publish user.updated"]
    [consumed] = [s for s in _spans(consume.stderr) if s["name"] == "consume user.updated"]
    trace = unit["context"]["trace_id"]
    assert publish["context"]["trace_id"] == consumed["context"]["trace_id"] == trace
    assert publish["parent_id"] == unit["context"]["span_id"]
    assert consumed["parent_id"] == publish["context"]["span_id"]
    assert publish["kind"] == "SpanKind.PRODUCER" and consumed["kind"] == "SpanKind.CONSUMER"
    sql = [s for s in _spans(update.stderr) if s["attributes"].get("db.system.name") == "sqlite"]
    assert {s["name"] for s in sql} >= {"SELECT", "UPDATE", "INSERT"}
    assert all(s["context"]["trace_id"] == trace for s in sql)


def test_without_the_otel_extra_tracing_off_changes_nothing(env: dict[str, str]) -> None:
    assert _run(env, "db", "upgrade", without_otel=True).returncode == 0
    created = _run(
        env,
        "user",
        "create",
        "--email",
        "u@example.com",
        "--name",
        "U",
        "--json",
        without_otel=True,
    )
    assert created.returncode == 0, created.stderr
    user_id = json.loads(created.stdout)["id"]
    assert _run(env, "user", "update", user_id, "--name", "V", without_otel=True).returncode == 0
    relay = _run(env, "outbox", "relay", "--once", without_otel=True)
    assert relay.returncode == 0, relay.stderr
    consume = _consume_once(env, without_otel=True)
    assert consume.returncode == 0, consume.stderr


def test_without_the_otel_extra_tracing_on_is_a_one_line_error(env: dict[str, str]) -> None:
    done = _run(env | {"QULAB_TRACING_EXPORTER": "otlp"}, "db", "upgrade", without_otel=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: QULAB_TRACING_EXPORTER=otlp needs the otel extra (pip install 'qulab[otel]')"
    ]
