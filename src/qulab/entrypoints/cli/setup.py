"""``qulab setup``: the codelab's first step from the command line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from qulab.entrypoints.cli._common import open_db, out, print_json, run

if TYPE_CHECKING:
    from qulab.lab import SetupResult


def register(app: typer.Typer) -> None:
    app.command("setup")(setup)


def setup(
    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Migrate the database and make sure the demo users Alex Smith and Jane Doe exist."""
    from qulab.lab import run_db_setup_and_create_user

    async def _go() -> SetupResult:
        async with open_db(create=True) as db:
            return await run_db_setup_and_create_user(db)

    result = run(_go)
    if json:
        print_json(
            {
                "database": result.database,
                "revision": result.revision,
                "alex": result.alex,
                "jane": result.jane,
                "created": list(result.created),
            }
        )
        return
    out.print(f"{result.database}: schema at revision {result.revision}")
    for user in (result.alex, result.jane):
        state = "created" if user.email in result.created else "already present"
        out.print(f"  {user.name:<11} {user.id}  ({state})")
