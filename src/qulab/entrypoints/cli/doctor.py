"""``qulab doctor``: one line per configured component, and an exit code to act on.

Exit 0 when everything answers (warnings included), 1 when something is down, 2 when the
settings are wrong (a bad URL, an unknown scheme, no schema). Addresses are shown redacted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from qulab.core import ConfigurationError
from qulab.entrypoints.cli._common import cell, out, print_json, run

if TYPE_CHECKING:
    from qulab.core.health import Check


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


def doctor(
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, max=60, help="Seconds each check may take.")
    ] = 3.0,
    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Check database, replicas, schema, cache, broker, relay and clock skew, one line each."""
    from qulab.core import load_settings
    from qulab.core.health import Check, Status, exit_code, run_checks
    from qulab.platform import MIGRATIONS

    try:
        current = load_settings()
    except ConfigurationError as error:
        checks = [Check("settings", Status.MISCONFIGURED, str(error))]
    else:
        checks = run(lambda: run_checks(current, MIGRATIONS, timeout))
    if json:
        print_json([check.as_dict() for check in checks])
    else:
        _print_lines(checks)
    raise typer.Exit(exit_code(checks))


def _print_lines(checks: list[Check]) -> None:
    width = max(len(check.component) for check in checks)
    for check in checks:
        line = cell(f"{check.component:<{width}}  {check.status!s:<13}  {check.detail}")
        out.print(line)
