"""``qulab seed``: bulk demo users and scores."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from qulab.entrypoints.cli._common import (
    DryRun,
    Yes,
    ask,
    err,
    needs_consent,
    open_db,
    out,
    print_json,
    run,
)


def register(app: typer.Typer) -> None:
    app.command("seed")(seed)


def seed(
    users: Annotated[int, typer.Option("--users", min=0, help="Up to 1,000,000.")] = 100,
    scores: Annotated[int, typer.Option("--scores", min=0, help="Per user, up to 100.")] = 5,
    marker: Annotated[str, typer.Option(help="Tag for the seeded rows.")] = "demo",
    clear: Annotated[
        bool, typer.Option("--clear", help="Remove rows seeded under MARKER.")
    ] = False,
    yes: Yes = False,
    dry_run: DryRun = False,
    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Insert USERS demo users with SCORES scores each (or --clear them again: asks first on
    a terminal, needs --yes otherwise; --dry-run counts what would go)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from qulab.platform import MIGRATIONS, SeedResult
    from qulab.platform import seed as seed_users

    if clear:
        _clear(marker, yes=yes, dry_run=dry_run, json=json)
        return
    if dry_run:
        raise typer.BadParameter("--dry-run goes with --clear", param_hint="--dry-run")

    async def _seed() -> SeedResult:
        async with open_db(create=True) as db:
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


def _clear(marker: str, *, yes: bool, dry_run: bool, json: bool) -> None:
    needs_consent("seed --clear", yes=yes, dry_run=dry_run)
    from qulab.platform import clear_seeded, count_removal, seeded_users

    async def _go() -> dict[str, Any]:
        async with open_db() as db:
            removal = await count_removal(db, seeded_users(marker))
            plan = (
                f"removes {removal.users} user(s) seeded under marker {marker} with "
                f"{removal.assessments} assessment(s) and {removal.scores} score(s), recording "
                f"{removal.events} users.removed event(s)"
            )
            record = {"marker": marker, **vars(removal), "summary": plan}
            if dry_run:
                return {"dry_run": True, **record}
            if removal.users:
                ask(f"{db.description}: {plan}", yes=yes)
            return {"removed_users": await clear_seeded(db, marker), "marker": marker}

    result = run(_go)
    if json:
        print_json(result)
    elif dry_run:
        out.print(f"dry run, nothing changed: {result['summary']}")
    else:
        out.print(f"removed {result['removed_users']} seeded users (marker {marker})")
