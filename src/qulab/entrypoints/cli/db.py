"""``qulab db``: schema migrations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from qulab.entrypoints.cli._common import (
    DryRun,
    Yes,
    ask,
    needs_consent,
    open_db,
    out,
    print_json,
    run,
)

if TYPE_CHECKING:
    from qulab.core import Database, DowngradePlan

app = typer.Typer(
    help="Create, upgrade, downgrade or reset the database schema.", no_args_is_help=True
)

JSON = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@app.command()
def upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    json: JSON = False,
) -> None:
    """Apply migrations up to REVISION (default: the latest, the lab's own table included)."""
    from qulab.platform import MIGRATIONS

    async def _go() -> dict[str, str | None]:
        async with open_db(create=True) as db:
            await MIGRATIONS.upgrade(db, revision)
            result = await _at(db)
            if revision == "head":
                # The lab's own table (knowledge-check progress) comes up with the latest schema.
                from qulab.lab.migrate import LAB_MIGRATIONS

                await LAB_MIGRATIONS.upgrade(db)
                result["lab_revision"] = await LAB_MIGRATIONS.current(db)
            return result

    _print_revision(run(_go), json)


@app.command()
def downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, or -1 for one step.")] = "-1",
    yes: Yes = False,
    dry_run: DryRun = False,
    json: JSON = False,
) -> None:
    """Undo migrations down to REVISION ("base" removes every table but the lab's progress).
    Asks first on a terminal; --yes otherwise. --dry-run lists the revisions and tables that
    would go."""
    needs_consent("db downgrade", yes=yes, dry_run=dry_run)
    from qulab.platform import MIGRATIONS

    async def _go() -> dict[str, Any]:
        async with open_db() as db:
            plan = await MIGRATIONS.plan_downgrade(db, revision)
            if dry_run:
                return _plan_record(db, plan)
            if plan.revisions:
                ask(f"{db.description}: {_describe(plan)}", yes=yes)
                await MIGRATIONS.downgrade(db, revision)
            return await _at(db)

    result = run(_go)
    if dry_run:
        _print_plan(result, json)
    else:
        _print_revision(result, json)


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
def reset(yes: Yes = False, dry_run: DryRun = False, json: JSON = False) -> None:
    """Drop every QuLab table and recreate the schema empty. Asks first on a terminal; --yes
    otherwise. --dry-run lists the tables and rows that would go."""
    needs_consent("db reset", yes=yes, dry_run=dry_run)
    from qulab.platform import MIGRATIONS

    async def _go() -> dict[str, Any]:
        async with open_db() as db:
            plan = await MIGRATIONS.plan_downgrade(db, "base")
            if dry_run:
                return _plan_record(db, plan) | {"then": f"upgrade to {MIGRATIONS.head()}"}
            ask(f"{db.description}: {_describe(plan)}, then recreates the schema empty", yes=yes)
            await MIGRATIONS.downgrade(db, "base")
            await MIGRATIONS.upgrade(db, "head")
            return await _at(db) | {"reset": True}

    result = run(_go)
    if dry_run:
        _print_plan(result, json, then=", then recreate the schema empty")
    elif json:
        print_json(result)
    else:
        out.print(f"{result['database']}: reset to an empty schema")


async def _at(db: Database) -> dict[str, str | None]:
    from qulab.core import current_revision

    return {"database": db.description, "revision": await current_revision(db)}


def _print_revision(result: dict[str, Any], json: bool) -> None:
    if json:
        print_json(result)
    else:
        out.print(f"{result['database']}: schema at revision {result['revision'] or 'base'}")


def _describe(plan: DowngradePlan) -> str:
    if not plan.revisions:
        return f"nothing to undo (at revision {plan.current or 'base'})"
    steps = ", ".join(rev for rev, _doc in plan.revisions)
    tables = ", ".join(f"{name} ({rows} rows)" for name, rows in plan.tables.items())
    dropped = f"drops {len(plan.tables)} table(s): {tables}" if tables else "drops no table"
    return (
        f"downgrade {plan.current} -> {plan.target or 'base'} undoes {len(plan.revisions)} "
        f"revision(s) ({steps}) and {dropped}; {plan.rows} row(s) in them would be lost"
    )


def _plan_record(db: Database, plan: DowngradePlan) -> dict[str, Any]:
    return {
        "dry_run": True,
        "database": db.description,
        "current": plan.current,
        "target": plan.target,
        "revisions": [{"revision": rev, "message": doc} for rev, doc in plan.revisions],
        "tables": plan.tables,
        "rows": plan.rows,
        "summary": _describe(plan),
    }


def _print_plan(result: dict[str, Any], json: bool, then: str = "") -> None:
    if json:
        print_json(result)
    else:
        out.print(f"dry run, nothing changed: {result['database']}: {result['summary']}{then}")
