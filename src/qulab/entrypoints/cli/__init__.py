"""The ``qulab`` command line. Typer lives only in this package.

Exit codes: 0 success; 2 a user mistake (bad input, unknown id, duplicate email, bad setting,
a bad flag or value, a destructive command run without ``--yes`` when stdin is not a
terminal); 1 a runtime failure (a database, cache or broker that cannot be reached); 3 a pass
that dead-lettered what it could not deliver or apply (``outbox relay``: events that used their
last attempt are now ``failed``; ``consume run --once``: poison messages dropped). Either way
one clear line goes to stderr, never a traceback; a refused value names the flag the user typed
(``--read-ratio``), not the field behind it.

Start-up stays light: the command modules import only Typer and the standard library at the
top, and SQLAlchemy, the cache, the brokers and the lab inside the commands that use them, so
``qulab --help`` and ``qulab --version`` load none of them (tests/cli/test_cli_startup.py).
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from qulab._startup import release_sigint, release_sigterm
from qulab.core import ConfigurationError, QulabError, UserError
from qulab.entrypoints.cli import cache as cache_commands
from qulab.entrypoints.cli import consume as consume_commands
from qulab.entrypoints.cli import db as db_commands
from qulab.entrypoints.cli import doctor as doctor_command
from qulab.entrypoints.cli import outbox as outbox_commands
from qulab.entrypoints.cli import score as score_commands
from qulab.entrypoints.cli import seed as seed_commands
from qulab.entrypoints.cli import setup as setup_commands
from qulab.entrypoints.cli import users as user_commands
from qulab.entrypoints.cli._common import err, out
from qulab.entrypoints.cli._flags import name_flags
from qulab.entrypoints.cli._logging import configure_logging
from qulab.entrypoints.cli.lab import app as app_command
from qulab.entrypoints.cli.lab import bench as bench_commands
from qulab.entrypoints.cli.lab import cache_compare as cache_compare_commands
from qulab.entrypoints.cli.lab import chaos as chaos_commands
from qulab.entrypoints.cli.lab import design as lab_commands
from qulab.entrypoints.cli.lab import nplusone as nplusone_commands
from qulab.entrypoints.cli.lab import pool as pool_commands

__all__ = ["app", "entry", "main"]

app = typer.Typer(
    name="qulab",
    help="QuLab: the data layer of an AI-readiness platform, measured.",
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

        out.print(f"qulab {qulab.__version__}")
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


app.add_typer(cache_commands.app, name="cache")
cache_compare_commands.register(cache_commands.app)
app.add_typer(db_commands.app, name="db")
app.add_typer(user_commands.app, name="user")
app.add_typer(score_commands.app, name="score")
app.add_typer(outbox_commands.app, name="outbox")
app.add_typer(lab_commands.app, name="lab")
setup_commands.register(app)
app_command.register(app)
seed_commands.register(app)
nplusone_commands.register(app)
pool_commands.register(app)
bench_commands.register(app)
doctor_command.register(app)
consume_commands.register(app)
chaos_commands.register(app)


INTERRUPTED = 130  # the shell's code for a process ended by Ctrl-C


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    configure_logging()
    if list(sys.argv[1:] if argv is None else argv)[:2] != ["outbox", "relay"]:
        release_sigterm()  # only the relay turns a SIGTERM during start-up into a clean stop
    try:
        command = typer.main.get_command(app)
        name_flags(command)
        if release_sigint():  # Ctrl-C while the modules loaded and the commands were built
            return _interrupted()
        result = command.main(args=argv, prog_name="qulab", standalone_mode=False)
    except typer.Abort:
        err.print("aborted")
        return 130
    except typer.Exit as done:
        return int(done.exit_code)
    except typer.TyperException as error:  # usage errors (a bad flag or value): one line
        err.print(f"error: {_usage_line(error)}", markup=False)
        return int(getattr(error, "exit_code", 2))
    except (UserError, ConfigurationError) as error:
        err.print(f"error: {error}", markup=False)
        return 2
    except QulabError as error:
        err.print(f"error: {error}", markup=False)
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


def _interrupted() -> int:
    err.print("interrupted")
    # Connections abandoned half-way are collected on the way out; asyncio would log each
    # one's unretrieved error after the line above. Nothing is lost: nothing was committed.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    return INTERRUPTED


def entry() -> None:
    sys.exit(main())
