"""What every command shares: settings, running a coroutine, printing data, and errors.

Importing this module stays cheap (no SQLAlchemy, Redis or broker client): every command
module imports it, so the runtime is imported only when a command opens it.

Printing never interprets data: the consoles parse no rich markup and no emoji codes, and show
control characters as escapes (``\\x1b``, ``\\u202e``; see qulab.core.control_chars), so a name
like ``[/x]`` or one holding an ANSI sequence prints as the characters it is made of.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import orjson
import typer

from qulab.core import UserError, visible, visible_json
from qulab.entrypoints.cli._logging import apply as apply_logging

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from qulab.core import Database, Runtime, Settings
    from qulab.core.cache import Cache

T = TypeVar("T")

# Exit codes every command shares (the package docstring and docs/operations.md list them).
EXIT_RUNTIME = 1  # a database, cache or broker that cannot be reached
EXIT_USER = 2  # bad input, an unknown id, a destructive command run without --yes off a terminal
EXIT_DEAD_LETTERED = 3  # the work was done, but some events or messages were dead-lettered


def _literal_console(stderr: bool) -> Console:
    """A console for text that may hold data: strings are never parsed, only made visible.

    Markup must be asked for per call (``markup=True``) and only for text the program wrote.
    """
    from rich.console import Console

    class LiteralConsole(Console):
        def render_str(self, text: str, **options: Any) -> Text:
            return super().render_str(visible(text, keep_layout=True), **options)

    return LiteralConsole(stderr=stderr, highlight=False, soft_wrap=True, markup=False, emoji=False)


class _OnFirstUse:
    """A console made when first used: rich is a tenth of the start-up of a command that only
    shows its help, which never prints through these."""

    def __init__(self, *, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            self._console = _literal_console(self._stderr)
        return getattr(self._console, name)

    def forget(self) -> None:
        """Make the console again on next use, as a new process would (with its terminal's
        width then): for running several commands in one process, as tests do."""
        self._console = None


out = cast("Console", _OnFirstUse())
err = cast("Console", _OnFirstUse(stderr=True))


Yes = Annotated[
    bool, typer.Option("--yes", help="Go ahead without asking (needed off a terminal).")
]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Say exactly what would go, and change nothing.")
]


def needs_consent(command: str, *, yes: bool, dry_run: bool) -> None:
    """A destructive command runs on ``--yes``, or after a "y" typed at a terminal: with stdin
    not a terminal and no ``--yes`` it stops here, before it touches anything (exit 2)."""
    if yes or dry_run or sys.stdin.isatty():
        return
    raise UserError(
        f"`qulab {command}` deletes data and stdin is not a terminal to ask: pass --yes to "
        "go ahead, or --dry-run to see what would go"
    )


def ask(plan: str, *, yes: bool) -> None:
    """Show what is about to go and ask (default no); a "no" exits 1 with nothing changed."""
    if yes:
        return
    err.print(f"{plan}\nGo ahead? [y/N] ", end="")
    err.file.flush()
    if sys.stdin.readline().strip().lower() not in {"y", "yes"}:
        err.print("nothing changed")
        raise typer.Exit(1)  # declined: not a success, and not a mistake in the input


def settings() -> Settings:
    """The process's settings; reading them applies their logging settings."""
    from qulab.core import get_settings

    current = get_settings()
    apply_logging(current)
    return current


def run(coro_factory: Callable[[], Awaitable[T]]) -> T:
    """Run one command's async work on a fresh event loop."""
    import asyncio

    async def _main() -> T:
        return await coro_factory()

    return asyncio.run(_main())


@asynccontextmanager
async def open_runtime(
    current: Settings | None = None, *, cache: Cache | None = None, reads_data: bool = False
) -> AsyncIterator[Runtime]:
    """QuLab assembled by ``bootstrap`` for one command, closed when the command ends. A
    command that ``reads_data`` (a relay, a consumer) first makes sure a SQLite file exists,
    as ``open_db`` does, rather than leave an empty one behind."""
    from qulab.platform import bootstrap

    current = current or settings()
    if reads_data:
        _require_sqlite_file(current)
    async with bootstrap(current, cache=cache) as runtime:
        yield runtime


@asynccontextmanager
async def open_cache(current: Settings | None = None) -> AsyncIterator[Cache]:
    async with open_runtime(current) as runtime:
        yield runtime.cache


@asynccontextmanager
async def open_db(
    current: Settings | None = None, *, cache: Cache | None = None, create: bool = False
) -> AsyncIterator[Database]:
    """The database, with the cache subscribed to its bus so that every commit (and every
    batch a relay publishes) invalidates what it changed: ``cache`` if given, else the one the
    settings name (a shared Redis cache, or an in-process one that dies with the command).

    A SQLite file that does not exist is created only by the commands that build a schema
    (``create=True``: ``db upgrade``, ``setup``, ``seed``...); any other command says the
    database is not initialised and leaves no empty file behind."""
    async with open_runtime(current, cache=cache, reads_data=not create) as runtime:
        yield runtime.db


def _require_sqlite_file(current: Settings) -> None:
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from qulab.core import SchemaMissing

    url = make_url(current.database.url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    if url.query.get("uri") or url.database.startswith("file:"):
        return  # an SQLite URI names its own open mode
    path = Path(url.database)
    if path.parent.is_dir() and not path.exists():  # (no directory: sqlite3 says it cannot open)
        raise SchemaMissing(
            f"the database is not initialised: {path} does not exist; "
            "run `qulab db upgrade` (or `qulab setup`) to create it"
        )


def _default(value: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def print_json(data: Any, *, one_line: bool = False) -> None:
    """Indented JSON (or one line of it); every control character inside it is an escape that
    decodes to the value."""
    option = 0 if one_line else orjson.OPT_INDENT_2
    text = orjson.dumps(data, default=_default, option=option).decode()
    out.print(visible_json(text))


def cell(value: Any) -> Text:
    """One value as inert text: None is empty, control characters are escaped."""
    from rich.text import Text

    return Text("" if value is None else visible(str(value)))


def print_table(
    title: str,
    rows: list[dict[str, Any]],
    columns: list[str],
    *,
    optional: Sequence[str] = (),
) -> None:
    """Rows under a title, every value whole.

    On a terminal the table fits its width: the ``optional`` columns (least useful last) are
    dropped, last first, while it would not fit, then text with spaces wraps; a value without
    spaces (an id, an email, a number) is never cut or ellipsised. Anywhere else (a pipe, a
    file) the output is plain aligned columns as wide as the data, nothing cut.
    """
    from rich.table import Table
    from rich.text import Text

    cells = [[_plain(row.get(column)) for column in columns] for row in rows]
    if not out.is_terminal:
        _print_plain([title], [list(columns), *cells])
        return
    table = Table(title=cell(title))
    for index, width in _layout(columns, cells, optional, out.width):
        table.add_column(Text(columns[index]), overflow="fold", width=width)
    shown = [index for index, _ in _layout(columns, cells, optional, out.width)]
    for row in cells:
        table.add_row(*(Text(row[index]) for index in shown))
    out.print(table)


def print_record(title: str, record: dict[str, Any]) -> None:
    """One record as ``field  value`` lines: a boxed table on a terminal, plain elsewhere."""
    from rich.table import Table
    from rich.text import Text

    pairs = [[visible(key), _plain(value)] for key, value in record.items()]
    if not out.is_terminal:
        _print_plain([title], pairs)
        return
    table = Table(title=cell(title), show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key, value in pairs:
        table.add_row(Text(key), Text(value))
    out.print(table)


def _plain(value: Any) -> str:
    return "" if value is None else visible(str(value))


def _widest(header: str, values: Sequence[str]) -> int:
    from rich.cells import cell_len

    return max([cell_len(header), *(cell_len(value) for value in values)])


def _layout(
    columns: Sequence[str], cells: Sequence[Sequence[str]], optional: Sequence[str], width: int
) -> list[tuple[int, int]]:
    """The columns to show and their widths on a terminal ``width`` wide.

    A column whose values hold no space (ids, emails, numbers, codes) keeps its full width;
    one with spaces may wrap down to its longest word. Optional columns go, last first, while
    even that does not fit (a boxed table adds three characters per column and one more).
    """
    from rich.cells import cell_len

    full = [_widest(columns[i], [row[i] for row in cells]) for i in range(len(columns))]
    least = [
        max([cell_len(columns[i]), *(cell_len(w) for row in cells for w in row[i].split(" "))])
        for i in range(len(columns))
    ]
    shown = list(range(len(columns)))
    droppable = [columns.index(name) for name in optional if name in columns]

    def room() -> int:
        return width - 3 * len(shown) - 1

    while droppable and sum(least[i] for i in shown) > room():
        shown.remove(droppable.pop())
    spare = room() - sum(least[i] for i in shown)
    widths = {i: least[i] for i in shown}
    for i in sorted(shown, key=lambda i: full[i] - least[i]):  # the narrowest growth first
        grow = min(full[i] - least[i], max(spare, 0))
        widths[i] += grow
        spare -= grow
    return [(i, widths[i]) for i in shown]


def _print_plain(head: Sequence[str], lines: Sequence[Sequence[str]]) -> None:
    """Title lines, then columns aligned with two spaces between them, no trailing blanks."""
    from rich.cells import cell_len
    from rich.text import Text

    for line in head:
        out.print(Text(visible(line)))
    if not lines:
        return
    widths = [max(cell_len(row[i]) for row in lines) for i in range(len(lines[0]))]
    for row in lines:
        padded = [value + " " * (widths[i] - cell_len(value)) for i, value in enumerate(row)]
        out.print(Text("  ".join(padded).rstrip()), crop=False, soft_wrap=True)
