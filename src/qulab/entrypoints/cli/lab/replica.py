"""``qulab lab replica up|down|status``: a private PostgreSQL primary and streaming standby for
trying read replicas on one's own machine (``qulab.lab.replica_pair``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from qulab.core import UserError
from qulab.entrypoints.cli._common import Yes, ask, out, print_json

if TYPE_CHECKING:
    from qulab.lab.replica_pair import PairStatus

replica = typer.Typer(
    help="Start, inspect or remove a private primary and standby for trying replicas.",
    no_args_is_help=True,
)

Directory = Annotated[
    Path | None,
    typer.Option("--dir", help="Where the pair lives (default: qulab-replica-<uid> in /tmp)."),
]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def register(app: typer.Typer) -> None:
    app.add_typer(replica, name="replica")


def _directory(given: Path | None) -> Path:
    from qulab.lab.replica_pair import default_directory

    return (given or default_directory()).absolute()


def _show(status: PairStatus, json: bool) -> None:
    if json:
        print_json(status.as_dict())
        return
    if not status.exists:
        out.print(f"no replica pair in {status.directory}")
        return
    running = {True: "running", False: "stopped"}
    out.print(f"primary  {status.primary_url}  {running[status.primary_running]}")
    out.print(f"standby  {status.replica_url}  {running[status.standby_running]}")
    out.print(f"directory {status.directory}")
    out.print("Point QuLab at them (then `qulab setup` migrates the primary):")
    for line in status.environment():
        out.print(f"  export {line}")


@replica.command("up")
def up(directory: Directory = None, json: Json = False) -> None:
    """Start the pair (created the first time: initdb, a qulab database, pg_basebackup) and
    print the QULAB_DATABASE_URL and QULAB_DATABASE_REPLICA_URLS lines that use it."""
    from qulab.lab.replica_pair import up as start

    _show(start(_directory(directory)), json)


@replica.command("status")
def status(directory: Directory = None, json: Json = False) -> None:
    """Say whether the pair exists, whether each server runs, and its URLs."""
    from qulab.lab.replica_pair import status as read

    _show(read(_directory(directory)), json)


@replica.command("down")
def down(directory: Directory = None, yes: Yes = False, json: Json = False) -> None:
    """Stop the pair and delete its directory, with its data (asks first on a terminal,
    needs --yes otherwise)."""
    from qulab.lab.replica_pair import down as remove
    from qulab.lab.replica_pair import status as read

    where = _directory(directory)
    if read(where).exists:
        if not yes and not sys.stdin.isatty():
            raise UserError(
                "`qulab lab replica down` deletes the pair's data and stdin is not a terminal "
                "to ask: pass --yes to go ahead"
            )
        ask(f"This stops the replica pair and deletes {where}.", yes=yes)
    _show(remove(where), json)
