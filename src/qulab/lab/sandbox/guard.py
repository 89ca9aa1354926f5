"""The statements learner code may send: a SELECT built from the tools, nothing else.

Learner code reaches the database only through ``ReadSession``. Each statement it passes is
checked here first: it must be a ``select()``, call only the SQL functions listed below (a
superuser connection could otherwise read server files with ``pg_read_file``), and carry no
raw SQL text. The transaction is read-only as well, so a write that got past this check would
still be refused by the database.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Select, TextClause
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.elements import BinaryExpression
from sqlalchemy.sql.functions import FunctionElement

from qulab.lab.errors import Refused

SQL_FUNCTIONS = frozenset(
    {
        "abs",
        "avg",
        "coalesce",
        "count",
        "dense_rank",
        "length",
        "lower",
        "max",
        "min",
        "rank",
        "round",
        "row_number",
        "sum",
        "upper",
    }
)


# What may stand before "(" in the SQL text besides an allowed function: SQL's own words.
SQL_WORDS = frozenset(
    {
        "all", "and", "any", "as", "between", "by", "case", "cast", "else", "except", "exists",
        "filter", "from", "having", "in", "intersect", "is", "join", "lateral", "like", "not",
        "on", "or", "over", "partition", "select", "some", "then", "union", "using", "values",
        "when", "where", "with",
    }
)  # fmt: skip
CALLED = re.compile(r'(?:"((?:[^"]|"")+)"|([A-Za-z_][\w$]*))\s*\(')


def check_sql(sql: str) -> None:
    """The last check, on the text about to reach the database: a SELECT (or WITH) calling only
    the allowed functions. It sees what the ORM adds too, such as a loading option's criteria."""
    if not sql.lstrip().lower().startswith(("select", "with")):
        raise Refused(
            f"Only SELECT statements run here, and this began with {sql.split()[0]!r}: the "
            "exercise's transaction is read-only, so nothing was changed."
        )
    for quoted, bare in CALLED.findall(sql):
        name = (quoted or bare).lower()
        if name not in SQL_FUNCTIONS and name not in SQL_WORDS:
            raise Refused(
                f"The SQL function `{name}` is not allowed here; the sandbox allows "
                f"{', '.join(sorted(SQL_FUNCTIONS))}."
            )


def _kind(statement: object) -> str:
    if isinstance(statement, str):
        return "SQL text in a string"
    verb = getattr(statement, "__visit_name__", None)
    return f"a {str(verb).upper()} statement" if verb else f"a {type(statement).__name__}"


def check_statement(statement: object) -> Select[Any]:
    """``statement`` if the sandbox may send it; raises ``Refused`` with the reason otherwise."""
    if not isinstance(statement, Select):
        raise Refused(
            f"Only SELECT statements run here, and this was {_kind(statement)}: the exercise's "
            "transaction is read-only, so nothing was changed."
        )
    raw = (statement._prefixes, statement._suffixes, statement._hints, statement._statement_hints)
    if any(raw):
        raise Refused("The select carries raw SQL text (a prefix, suffix or hint): remove it.")
    for element in visitors.iterate(statement):
        _check_element(element)
    return statement


def _check_element(element: Any) -> None:
    if isinstance(element, TextClause):
        raise Refused("The select carries raw SQL text: build it from columns and func instead.")
    if isinstance(element, FunctionElement):
        name = str(getattr(element, "name", "")).lower()
        if getattr(element, "packagenames", ()) or name not in SQL_FUNCTIONS:
            raise Refused(
                f"The SQL function `{name}` is not allowed here; the sandbox allows "
                f"{', '.join(sorted(SQL_FUNCTIONS))}."
            )
    if isinstance(element, BinaryExpression) and isinstance(element.operator, operators.custom_op):
        raise Refused("Custom SQL operators are not allowed here: use the columns' comparisons.")


class ReadSession:
    """The session learner code is given: reads through checked selects, and nothing else."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def execute(self, statement: object) -> Any:
        return await self._session.execute(check_statement(statement))

    async def scalars(self, statement: object) -> Any:
        return await self._session.scalars(check_statement(statement))

    async def scalar(self, statement: object) -> Any:
        return await self._session.scalar(check_statement(statement))

    async def get(self, model: Any, ident: Any) -> Any:
        return await self._session.get(model, ident)

    def __getattr__(self, name: str) -> Any:
        raise Refused(
            f"`session.{name}` is not available: this session can only read "
            "(execute, scalars, scalar, get), and its transaction is read-only."
        )
