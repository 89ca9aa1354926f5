"""``qulab --help``, ``--version`` and a sub-command's ``--help`` start without the runtime:
no database driver, cache client, broker client or lab library is imported for them. A data
command imports only what it uses: its own command module and the database, never the
migration tool, the clients of services it was not configured with, or the lab."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import version

import pytest
from typer.core import TyperCommand

from qulab.entrypoints.cli import COMMANDS, load_command

HEAVY = ("sqlalchemy", "asyncpg", "aiosqlite", "redis", "aio_pika", "streamlit", "pandas")

# Runs the command line in a fresh interpreter, then reports (on stderr, after the command's
# own output) its exit code and which of the watched modules it had imported.
PROBE = """
import json, sys
from qulab.entrypoints.cli import main
code = main(sys.argv[2:])
heavy = sorted(m for m in json.loads(sys.argv[1]) if m in sys.modules)
sys.stderr.write("\\nPROBE " + json.dumps({"code": code, "heavy": heavy}) + "\\n")
"""


def _probe(*args: str, watched: tuple[str, ...] = HEAVY) -> tuple[int, list[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QULAB_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(watched), *args],
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


# Importing these and building Typer's pydantic adapter for the unset --help flag was half the
# start-up of a sub-command's help; none of them prints through rich or reads a setting.
NOT_FOR_HELP = ("pydantic", "rich", "qulab.core.config")


@pytest.mark.parametrize(
    "args",
    [
        ("user", "list", "--help"),
        ("user", "--help"),
        ("score", "add", "--help"),
        ("outbox", "relay", "--help"),
        ("seed", "--help"),
        ("bench", "--help"),
        ("cache", "compare", "--help"),
    ],
)
def test_a_sub_command_help_imports_neither_pydantic_nor_rich(args: tuple[str, ...]) -> None:
    code, found, shown = _probe(*args, watched=NOT_FOR_HELP)
    assert (code, found) == (0, [])
    assert "Usage: qulab" in shown


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


# What a data command must not load when the configuration does not call for it: with SQLite,
# the in-process cache and no broker, a read needs SQLAlchemy, the platform's models and the
# command's own module, never the migration tool, a Redis or broker client, the PostgreSQL
# driver, the lab, the relay, the consumers or the other commands.
NOT_FOR_A_READ = (
    "alembic",
    "mako",
    "redis",
    "aio_pika",
    "aiormq",
    "nats",
    "asyncpg",
    "email_validator",
    "streamlit",
    "pandas",
    "qulab.lab",
    "qulab.core.consumers",
    "qulab.core.outbox.relay",
    "qulab.core.health",
    "qulab.platform.projection",
    "qulab.platform.services",
)

# Runs the command line in a fresh interpreter, then reports every module it had imported.
MODULES_PROBE = """
import json, sys
from qulab.entrypoints.cli import main
code = main(sys.argv[1:])
sys.stderr.write("\\nPROBE " + json.dumps({"code": code, "modules": sorted(sys.modules)}) + "\\n")
"""


def _loaded(args: tuple[str, ...], env: dict[str, str]) -> tuple[int, set[str], str]:
    done = subprocess.run(
        [sys.executable, "-c", MODULES_PROBE, *args],
        env=env | {"COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = done.stderr.rpartition("PROBE ")[2]
    assert report, done.stderr
    data = json.loads(report)
    return data["code"], set(data["modules"]), done.stdout


def _within(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in packages))


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], str]:
    """A migrated SQLite database with the demo users, and one user's id."""
    folder = tmp_path_factory.mktemp("startup")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QULAB_")}
    env["QULAB_DATABASE_URL"] = f"sqlite+aiosqlite:///{folder / 'cli.db'}"
    code, _, _ = _loaded(("setup",), env)
    assert code == 0
    code, _, shown = _loaded(("user", "list", "--json"), env)
    assert code == 0
    found = re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", shown)
    assert found, shown
    return env, found[0]


@pytest.mark.parametrize(
    "args",
    [
        ("user", "list"),
        ("user", "show", "{id}"),
        ("cache", "stats", "--json"),
        ("outbox", "status"),
    ],
)
def test_a_data_command_imports_only_what_it_uses(
    args: tuple[str, ...], initialised: tuple[dict[str, str], str]
) -> None:
    env, user_id = initialised
    code, modules, shown = _loaded(tuple(arg.format(id=user_id) for arg in args), env)
    assert code == 0
    assert shown.strip()
    assert _within(modules, NOT_FOR_A_READ) == []
    command_modules = _within(modules, ("qulab.entrypoints.cli",))
    # the group's own modules: `cache compare` comes from the lab's command modules
    own = {"user": {"users"}, "cache": {"cache", "lab", "cache_compare"}}.get(args[0], {args[0]})
    shared = {"cli", "_common", "_flags", "_logging", "_metrics"}
    assert {m.rpartition(".")[2] for m in command_modules} <= shared | own, command_modules


def test_help_imports_no_command_module_and_no_output_library() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QULAB_")}
    code, modules, shown = _loaded(("--help",), env)
    assert code == 0 and "Commands:" in shown
    assert _within(modules, ("qulab.entrypoints.cli",)) == [
        "qulab.entrypoints.cli",
        "qulab.entrypoints.cli._logging",
    ]
    assert _within(modules, ("rich", "pydantic", "pydantic_settings", "orjson")) == []


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_help_listing_shows_what_each_loaded_command_would(name: str) -> None:
    """``qulab --help`` lists each command from its summary without loading it; the summary
    must read as the loaded command's own first line would, at any width."""
    loaded = load_command(name)
    listed = TyperCommand(name, help=COMMANDS[name].summary)
    for limit in (40, 66, 120, 400):
        assert listed.get_short_help_str(limit) == loaded.get_short_help_str(limit)


def test_a_mistyped_command_is_told_the_close_ones() -> None:
    code, _, _ = _probe("usr", "list")
    assert code == 2
    done = subprocess.run(
        [sys.executable, "-m", "qulab", "usr", "list"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "no such command 'usr'. Did you mean 'user'?" in done.stderr
