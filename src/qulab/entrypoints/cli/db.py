"""``qulab db``: schema migrations."""

from __future__ import annotations

from typing import Annotated

import typer

from qulab.entrypoints.cli._common import open_db, out, print_json, run

app = typer.Typer(
    help="Create, upgrade, downgrade or reset the database schema.", no_args_is_help=True
)

JSON = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _migrate(action: str, revision: str, json: bool) -> None:
    from qulab.core import current_revision
    from qulab.platform import MIGRATIONS

    async def _go() -> dict[str, str | None]:
        async with open_db() as db:
            await getattr(MIGRATIONS, action)(db, revision)
            return {"database": db.description, "revision": await current_revision(db)}

    result = run(_go)
    if json:
        print_json(result)
    else:
        out.print(f"{result['database']}: schema at revision {result['revision'] or 'base'}")


@app.command()
def upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    json: JSON = False,
) -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    _migrate("upgrade", revision, json)


@app.command()
def downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, or -1 for one step.")] = "-1",
    json: JSON = False,
) -> None:
    """Undo migrations down to REVISION ("base" removes every table)."""
    _migrate("downgrade", revision, json)


@app.command()
def current(json: JSON = False) -> None:
    """Show the schema revision the database is at, and the latest one available."""
    from qulab.core import current_revision
    from qulab.platform import MIGRATIONS

    async def _go() -> dict[str, str | None]:
        async with open_db() as db:
            return {
                "database": db.description,
                "revision": await current_revision(db),
                "head": MIGRATIONS.head(),
            }

    result = run(_go)
    if json:
        print_json(result)
        return
    state = "up to date" if result["revision"] == result["head"] else "needs `qulab db upgrade`"
    out.print(
        f"{result['database']}: revision {result['revision'] or 'none'} "
        f"(latest {result['head']}, {state})"
    )


@app.command()
def reset(
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: every row is deleted.")] = False,
    json: JSON = False,
) -> None:
    """Drop every QuLab table and recreate the schema empty."""
    if not yes:
        raise typer.BadParameter(
            "this deletes every row; pass --yes to confirm", param_hint="--yes"
        )
    from qulab.platform import MIGRATIONS

    async def _go() -> str:
        async with open_db() as db:
            await MIGRATIONS.downgrade(db, "base")
            await MIGRATIONS.upgrade(db, "head")
            return db.description

    database = run(_go)
    if json:
        print_json({"database": database, "revision": MIGRATIONS.head(), "reset": True})
    else:
        out.print(f"{database}: reset to an empty schema")
