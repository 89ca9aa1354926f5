"""The ``qulab`` command line. Typer lives only in this package.

Exit codes: 0 success; 2 a user mistake (bad input, unknown id, duplicate email, bad setting,
a bad flag or value, a destructive command run without ``--yes`` when stdin is not a
terminal); 1 a runtime failure (a database, cache or broker that cannot be reached); 3 a pass
that dead-lettered what it could not deliver or apply (``outbox relay``: events that used their
last attempt are now ``failed``; ``consume run --once``: poison messages dropped). Either way
one clear line goes to stderr, never a traceback; a refused value names the flag the user typed
(``--read-ratio``), not the field behind it.

Start-up stays light. Each top-level command is loaded from its module only when it runs
(``COMMANDS``: ``qulab --help`` lists them from their summaries and imports none), and the
command modules import only Typer and the standard library at the top, SQLAlchemy, the cache,
the brokers and the lab inside the commands that use them; the runtime they open imports only
the pieces the configuration calls for (tests/cli/test_cli_startup.py). A new top-level
command is an entry in ``COMMANDS``.
"""

from __future__ import annotations

import importlib
import logging
import sys
from dataclasses import dataclass
from difflib import get_close_matches
from functools import cache
from typing import TYPE_CHECKING, Annotated, cast

import typer
from typer import _click as click  # the Click that Typer vendors and builds commands with
from typer._click.decorators import help_option
from typer._click.exceptions import UsageError
from typer.core import TyperCommand, TyperGroup, TyperOption

from qulab._startup import release_sigint, release_sigterm
from qulab.core import ConfigurationError, QulabError, UserError
from qulab.entrypoints.cli._logging import configure_logging

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["app", "entry", "main"]


@dataclass(frozen=True)
class LazyCommand:
    """A top-level command loaded from its module only when it runs (or shows its own help).

    ``summary`` is what ``qulab --help`` lists until then: the command's first sentence
    (tests/cli/test_cli_startup.py holds it to the loaded command's). A ``group`` module has an
    ``app`` (a Typer), to which the ``extras`` modules ``register`` their commands; any other
    module has ``register(app)``, adding the command to the app it is given."""

    module: str
    summary: str
    group: bool = False
    extras: tuple[str, ...] = ()


# Every top-level command, in the order ``qulab --help`` lists them.
COMMANDS: dict[str, LazyCommand] = {
    "setup": LazyCommand(
        "setup",
        "Migrate the database and make sure the demo users Alex Smith and Jane Doe exist.",
    ),
    "app": LazyCommand("lab.app", "Serve the interactive lab (Streamlit) until interrupted."),
    "seed": LazyCommand(
        "seed",
        "Insert USERS demo users with SCORES scores each (or --clear them again: asks first on "
        "a terminal, needs --yes otherwise; --dry-run counts what would go).",
    ),
    "nplusone": LazyCommand(
        "lab.nplusone",
        "Load USERS users with their scores per row (1 + N queries) and eagerly (2 queries).",
    ),
    "pool": LazyCommand(
        "lab.pool",
        "Run REQUESTS request-shaped reads at CONCURRENCY through the pool and through NullPool.",
    ),
    "bench": LazyCommand(
        "lab.bench", "List the benchmarks (no NAME), or run them side by side in one process."
    ),
    "doctor": LazyCommand(
        "doctor",
        "Check database, replicas, schema, cache, broker, relay and clock skew, one line each.",
    ),
    "consume": LazyCommand(
        "consume", "Run consumers with an inbox, and see how they do.", group=True
    ),
    "chaos": LazyCommand(
        "lab.chaos",
        "Start R relays and C consumers as processes in a scratch database and broker "
        "namespace, write N events, SIGKILL a random relay or consumer K times (restarting "
        "it), wait until all has settled and check from the outside: events lost, order "
        "inversions per aggregate at the broker, duplicate deliveries (allowed), duplicate "
        "effects, projection = air_scores.",
    ),
    "cache": LazyCommand(
        "cache",
        "Inspect and control the read-through cache.",
        group=True,
        extras=("lab.cache_compare",),
    ),
    "db": LazyCommand("db", "Create, upgrade, downgrade or reset the database schema.", group=True),
    "user": LazyCommand("users", "Manage users.", group=True),
    "score": LazyCommand("score", "Calculate AI-R scores.", group=True),
    "outbox": LazyCommand("outbox", "Operate the transactional outbox.", group=True),
    "lab": LazyCommand(
        "lab.design",
        "The lab's exercises, run from the command line.",
        group=True,
        extras=("lab.replica",),
    ),
}


def _holder() -> typer.Typer:
    """A Typer to build one command in, with the top-level app's settings (which Typer hands
    down to the commands it builds)."""
    return typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)


@cache
def load_command(name: str) -> click.Command:
    """The top-level command ``name``, its module imported now (once per process)."""
    lazy = COMMANDS[name]
    module = importlib.import_module(f"{__name__}.{lazy.module}")
    holder = _holder()
    if lazy.group:
        for extra in lazy.extras:
            importlib.import_module(f"{__name__}.{extra}").register(module.app)
        holder.add_typer(module.app, name=name)
    else:
        module.register(holder)
    command = typer.main.get_group(holder).commands[name]
    from qulab.entrypoints.cli._flags import name_flags

    name_flags(command)  # a refused value names the flag the user typed
    plain_help(command)
    return command


def plain_help(command: click.Command) -> None:
    """Give ``command`` and every command below it a ``--help`` flag whose unset value is False.

    Typer's own leaves it None, and coerces a None through a pydantic adapter on every run of
    every command on the path: importing pydantic and building that adapter was a third of
    ``qulab user list --help``. False is a bool, which Typer passes through as it is."""
    if isinstance(command, TyperGroup):
        for child in command.commands.values():
            plain_help(child)
    if command.add_help_option and command._help_option is None:
        help_option(["--help"])(command)
        flag = cast("TyperOption", command.params.pop())
        flag.default = False
        command._help_option = flag  # what get_help_option returns from now on


class LazyGroup(TyperGroup):
    """The top-level group: each command's module is imported when that command is looked up,
    so ``qulab --help`` imports none of them and ``qulab user list`` only the user commands'."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *(name for name in self.commands if name not in COMMANDS)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in COMMANDS:
            found = load_command(cmd_name)
        return found

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except UsageError as error:  # Typer suggests only among the commands loaded
            matches = get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if matches and "Did you mean" not in error.message:
                suggestions = ", ".join(repr(match) for match in matches)
                error.message = f"{error.message.rstrip('.')}. Did you mean {suggestions}?"
            raise

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The listing from each command's summary, loading none of them."""
        commands: list[tuple[str, click.Command]] = []
        for name in self.list_commands(ctx):
            command = self.commands.get(name)
            if command is None and name in COMMANDS:
                command = TyperCommand(name, help=COMMANDS[name].summary)
            if command is not None and not command.hidden:
                commands.append((name, command))
        if not commands:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in commands)
        with formatter.section("Commands"):
            formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in commands])


app = typer.Typer(
    name="qulab",
    help="QuLab: the data layer of an AI-readiness platform, measured.",
    cls=LazyGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help and usage errors: Typer's rich formatter alone (rich_utils, markdown, syntax
    # highlighting) would double the start-up time of `qulab --help`.
    rich_markup_mode=None,
)


def _show_version(value: bool) -> None:
    if value:
        import qulab

        sys.stdout.write(f"qulab {qulab.__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _options(
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            help="Print the installed version and exit.",
        ),
    ] = False,
) -> None:
    """QuLab: the data layer of an AI-readiness platform, measured."""


def _preload(args: list[str]) -> None:
    """Import the command that ``args`` name now, while Ctrl-C is still held."""
    name = next((arg for arg in args if not arg.startswith("-")), None)
    if name in COMMANDS:
        load_command(name)


INTERRUPTED = 130  # the shell's code for a process ended by Ctrl-C


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    configure_logging()
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:2] != ["outbox", "relay"]:
        release_sigterm()  # only the relay turns a SIGTERM during start-up into a clean stop
    try:
        command = typer.main.get_command(app)
        plain_help(command)
        _preload(args)
        if release_sigint():  # Ctrl-C while the modules loaded and the commands were built
            return _interrupted()
        result = command.main(args=argv, prog_name="qulab", standalone_mode=False)
    except typer.Abort:
        _err().print("aborted")
        return 130
    except typer.Exit as done:
        return int(done.exit_code)
    except typer.TyperException as error:  # usage errors (a bad flag or value): one line
        _err().print(f"error: {_usage_line(error)}", markup=False)
        return int(getattr(error, "exit_code", 2))
    except (UserError, ConfigurationError) as error:
        _err().print(f"error: {error}", markup=False)
        return 2
    except QulabError as error:
        _err().print(f"error: {error}", markup=False)
        return 1
    except KeyboardInterrupt:
        return _interrupted()
    if result == INTERRUPTED:  # typer turns Ctrl-C inside a command into this code, silently
        return _interrupted()
    return result if isinstance(result, int) else 0


def _usage_line(error: typer.TyperException) -> str:
    """Click's message in the CLI's one style, pointing at the help of the command at fault."""
    format_message = getattr(error, "format_message", None)
    message = (format_message() if callable(format_message) else str(error)).strip().rstrip(".")
    line = message[:1].lower() + message[1:]
    context = getattr(error, "ctx", None)
    path = getattr(context, "command_path", None)
    if path:  # a usage error knows the command it was raised for
        line += f" (see `{path} --help`)"
    return " ".join(line.split())


def _err() -> Console:
    from qulab.entrypoints.cli._common import err

    return err


def _interrupted() -> int:
    # Connections abandoned half-way are collected on the way out, as soon as the line below
    # takes a moment to print; asyncio would log each one's unretrieved error. Nothing is lost:
    # nothing was committed. So it is silenced first.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    _err().print("interrupted")
    return INTERRUPTED


def entry() -> None:
    sys.exit(main())
