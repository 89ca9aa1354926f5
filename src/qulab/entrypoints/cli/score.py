"""``qulab score``: calculate and store AI-R scores (each with its ``score.calculated`` event)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from qulab.entrypoints.cli._common import open_db, out, print_json, print_table, run

if TYPE_CHECKING:
    from qulab.platform import ScoreRead

app = typer.Typer(help="Calculate AI-R scores.", no_args_is_help=True)


@app.command()
def add(
    user_id: Annotated[str, typer.Argument(metavar="USER_ID", help="The user's id (UUID).")],
    occupation: Annotated[
        str, typer.Option("--occupation", help="Occupation code (<= 20).")
    ] = "SW_ENG",
    count: Annotated[
        int,
        typer.Option("--count", min=1, max=100_000, help="How many scores (one per transaction)."),
    ] = 1,
    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Calculate and store a user's AI-R score; each one commits a score.calculated event."""
    from qulab.platform import CalculateScore, calculate_score, parse, uow_factory

    async def _go() -> list[ScoreRead]:
        command = parse(CalculateScore, user_id=user_id, occupation_code=occupation)
        async with open_db() as db:
            uow = uow_factory(db)
            return [await calculate_score(command, uow) for _ in range(count)]

    scores = run(_go)
    if json:
        print_json(scores)
        return
    rows = [score.model_dump() for score in scores[-20:]]
    columns = ["id", "occupation_code", "air_score", "vr_score", "hr_score", "synergy_score"]
    print_table(
        f"{len(scores)} score(s) stored",
        rows,
        [*columns, "ci_lower", "ci_upper"],
        optional=[
            *("ci_lower", "ci_upper", "vr_score", "hr_score"),
            *("synergy_score", "occupation_code"),
        ],
    )
    out.print(f"{len(scores)} score.calculated event(s) pending in the outbox")
