"""``qulab lab design``: grade an outbox table design from a JSON file beside the reference."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from qulab.entrypoints.cli._common import open_db, out, print_json, print_table, run

if TYPE_CHECKING:
    from qulab.lab.event_table_design import Design
    from qulab.lab.event_table_grade import Comparison, Grade

app = typer.Typer(help="The lab's exercises, run from the command line.", no_args_is_help=True)

MAX_DESIGN_BYTES = 64_000


def _grade_dict(grade: Grade) -> dict[str, Any]:
    return {
        "design": grade.design.summary(),
        "index_used": grade.index_used,
        "plan": grade.plan.splitlines(),
        "produced": grade.produced,
        "published": grade.published,
        "lost": grade.lost,
        "duplicates": grade.duplicates,
        "inversions": grade.inversions,
        "blocked": grade.blocked,
        "throughput_per_s": round(grade.throughput, 1),
        "seconds": round(grade.seconds, 3),
        "table_bytes": grade.table_bytes,
        "table_rows": grade.table_rows,
        "bytes_per_row": round(grade.bytes_per_row, 1),
        "problems": grade.problems(),
    }


def as_dict(comparison: Comparison) -> dict[str, Any]:
    return {
        "database": comparison.design.database,
        "design": _grade_dict(comparison.design),
        "reference": _grade_dict(comparison.reference),
    }


def _read_design(path: Path) -> Design:
    import json

    from qulab.core import InvalidInput
    from qulab.lab.event_table_design import design_from_dict

    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_DESIGN_BYTES + 1)
    except OSError as error:
        raise InvalidInput("design", f"cannot read {path}: {error.strerror}") from error
    if len(raw) > MAX_DESIGN_BYTES:
        raise InvalidInput("design", f"the design file is larger than {MAX_DESIGN_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidInput("design", f"{path} is not JSON") from error
    return design_from_dict(data)


@app.command("design")
def design(
    path: Annotated[Path, typer.Argument(help="A JSON design file (see --help).")],
    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Build the design in PATH in a scratch schema (PostgreSQL) or file (SQLite), run the lab's
    outbox workload on it and on QuLab's own design, and print both grades.

    PATH holds {"columns": {"id": "varchar(36)", ...}, "indexes": [{"columns": ["sequence"],
    "pending_only": true}], "claim": {"order_by": "sequence", "lock": "skip_locked",
    "batch_size": 50, "hold_aggregate": true}}.
    """
    from qulab.lab.event_table_grade import grade_beside_reference

    chosen = _read_design(path)

    async def _go() -> Comparison:
        async with open_db(create=True) as db:
            return await grade_beside_reference(db, chosen)

    data = as_dict(run(_go))
    if json:
        print_json(data)
        return
    keys = ["index_used", "published", "lost", "duplicates", "inversions", "blocked"]
    rows = [
        {"design": name, **{key: data[name][key] for key in keys}}
        | {"events/s": data[name]["throughput_per_s"], "bytes/row": data[name]["bytes_per_row"]}
        for name in ("design", "reference")
    ]
    print_table(data["database"], rows, ["design", *keys, "events/s", "bytes/row"])
    for problem in data["design"]["problems"]:
        out.print(f"- {problem}", markup=False)
    if not data["design"]["problems"]:
        out.print("the design holds up")
