"""``qulab seed``: bulk demo users and scores."""

from __future__ import annotations

from typing import Annotated

import typer

from qulab.entrypoints.cli._common import err, open_db, out, print_json, run


def register(app: typer.Typer) -> None:
    app.command("seed")(seed)


def seed(
    users: Annotated[int, typer.Option("--users", min=0, help="Up to 1,000,000.")] = 100,
    scores: Annotated[int, typer.Option("--scores", min=0, help="Per user, up to 100.")] = 5,
    marker: Annotated[str, typer.Option(help="Tag for the seeded rows.")] = "demo",
    clear: Annotated[
        bool, typer.Option("--clear", help="Remove rows seeded under MARKER.")
    ] = False,
    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Insert USERS demo users with SCORES scores each (or --clear them again)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from qulab.platform import MIGRATIONS, SeedResult, clear_seeded
    from qulab.platform import seed as seed_users

    async def _clear() -> int:
        async with open_db() as db:
            return await clear_seeded(db, marker)

    if clear:
        removed = run(_clear)
        if json:
            print_json({"removed_users": removed, "marker": marker})
        else:
            out.print(f"removed {removed} seeded users (marker {marker})")
        return

    async def _seed() -> SeedResult:
        async with open_db() as db:
            await MIGRATIONS.upgrade(db)
            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                transient=True,
                disable=json or not err.is_terminal,
            ) as progress:
                task = progress.add_task("seeding users", total=users)
                return await seed_users(
                    db, users, scores, marker=marker, progress=lambda n: progress.advance(task, n)
                )

    result = run(_seed)
    if json:
        print_json(result.__dict__)
    else:
        out.print(
            f"{result.database}: seeded {result.users} users and {result.scores} scores "
            f"(marker {result.marker}; remove with `qulab seed --clear --marker {result.marker}`)"
        )
