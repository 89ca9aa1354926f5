"""``qulab nplusone``: per-row loading against eager loading, on the configured database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from qulab.entrypoints.cli._common import open_db, out, print_json, print_table, run

if TYPE_CHECKING:
    from qulab.lab import Comparison, StrategyRun

MARKER = "nplusone"


def register(app: typer.Typer) -> None:
    app.command("nplusone")(nplusone)


def _strategy(run_: StrategyRun) -> dict[str, Any]:
    return {
        "strategy": run_.strategy,
        "statements": run_.statement_count,
        "queries_issued": run_.queries_issued,
        "elapsed_ms": round(run_.elapsed_s * 1000, 3),
        "users": run_.users,
        "scores": run_.scores,
    }


def as_dict(result: Comparison, seeded: bool) -> dict[str, Any]:
    return {
        "database": result.database,
        "marker": MARKER,
        "seeded_now": seeded,
        "per_row": _strategy(result.per_row),
        "eager": _strategy(result.eager),
        "statement_ratio": round(result.statement_ratio, 2),
        "time_ratio": round(result.time_ratio, 2),
        "identical_data": result.identical,
    }


def nplusone(
    users: Annotated[int, typer.Option("--users", min=1, max=100_000, help="Users to load.")],
    scores: Annotated[int, typer.Option("--scores", min=0, max=100, help="Scores per user.")] = 5,
    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Load USERS users with their scores per row (1 + N queries) and eagerly (2 queries).

    The users are seeded under the marker "nplusone" when missing; remove them with
    `qulab seed --clear --marker nplusone`.
    """
    from qulab.lab import compare_all_users
    from qulab.platform import MIGRATIONS, ensure_seeded, seeded_users

    async def _go() -> tuple[Comparison, bool]:
        async with open_db(create=True) as db:
            await MIGRATIONS.upgrade(db)
            seeded = await ensure_seeded(db, users, scores, marker=MARKER)
            result = await compare_all_users(db, users, where=seeded_users(MARKER))
            return result, seeded

    result, seeded = run(_go)
    data = as_dict(result, seeded)
    if json:
        print_json(data)
        return
    if seeded:
        out.print(f"seeded {users} users x {scores} scores under marker {MARKER}")
    rows = [data["per_row"], data["eager"]]
    print_table(
        f"{result.database}: {users} users x {scores} scores",
        rows,
        ["strategy", "statements", "elapsed_ms", "users", "scores"],
    )
    out.print(
        f"per-row ran {data['statement_ratio']}x the statements and took "
        f"{data['time_ratio']}x the time; identical data: {'yes' if result.identical else 'NO'}"
    )
