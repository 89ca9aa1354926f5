"""``qulab --help``, ``--version`` and a sub-command's ``--help`` start without the runtime:
no database driver, cache client, broker client or lab library is imported for them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version

import pytest

HEAVY = ("sqlalchemy", "asyncpg", "aiosqlite", "redis", "aio_pika", "streamlit", "pandas")

# Runs the command line in a fresh interpreter, then reports (on stderr, after the command's
# own output) its exit code and which heavy modules it had imported.
PROBE = f"""
import json, sys
from qulab.entrypoints.cli import main
code = main(sys.argv[1:])
heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)
sys.stderr.write("\\nPROBE " + json.dumps({{"code": code, "heavy": heavy}}) + "\\n")
"""


def _probe(*args: str) -> tuple[int, list[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QULAB_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        env=env | {"COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = done.stderr.rpartition("PROBE ")[2]
    assert report, done.stderr
    data = json.loads(report)
    return data["code"], data["heavy"], done.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("--version",),
        ("user", "list", "--help"),
        ("outbox", "relay", "--help"),
        ("doctor", "--help"),
        ("db", "--help"),
        ("consume", "--help"),
        ("chaos", "--help"),
        ("cache", "compare", "--help"),
    ],
)
def test_help_and_version_import_no_driver_cache_broker_or_lab_library(
    args: tuple[str, ...],
) -> None:
    code, heavy, _ = _probe(*args)
    assert code == 0
    assert heavy == []


def test_version_prints_the_installed_package_version() -> None:
    code, _, shown = _probe("--version")
    assert (code, shown) == (0, f"qulab {version('qulab')}\n")


def test_the_console_script_prints_the_version() -> None:
    qulab_bin = os.path.join(os.path.dirname(sys.executable), "qulab")
    done = subprocess.run([qulab_bin, "--version"], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"qulab {version('qulab')}\n", "")


def test_top_level_help_lists_every_command() -> None:
    code, _, shown = _probe("--help")
    assert code == 0
    for command in ("setup", "seed", "user", "outbox", "db", "cache", "doctor", "bench"):
        assert f" {command} " in shown
    assert "--version" in shown


def test_consume_help_names_every_consumer() -> None:
    from qulab.entrypoints.cli.consume import CONSUMER_NAMES
    from qulab.platform.application import PLATFORM

    assert tuple(PLATFORM.consumers) == CONSUMER_NAMES


def test_cache_compare_help_shows_the_strategies_and_workload_defaults() -> None:
    from dataclasses import asdict

    from qulab.entrypoints.cli.lab import cache_compare
    from qulab.lab.strategies import STRATEGY_NAMES
    from qulab.lab.workload import Workload

    assert cache_compare.STRATEGY_NAMES == STRATEGY_NAMES
    assert asdict(cache_compare.DEFAULTS) == asdict(Workload())
