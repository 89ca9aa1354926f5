"""The floor for ``qulab user list``: the same listing written plainly, with the same libraries
and nothing of QuLab. ``python bench/cli_floor.py list`` reads ``FLOOR_DATABASE_URL``.

A Typer command with the same options, a pydantic-settings class for its one setting, an ORM
model of the ``users`` columns it shows, one async SQLAlchemy engine, the count and the page in
one connection, and a rich table (or plain lines when piped). What ``qulab user list`` costs
over this is what QuLab adds: its layers, its runtime and the rest of its schema.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

import typer
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console
from rich.table import Table
from sqlalchemy import String, func, select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)


class FloorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLOOR_")
    database_url: str


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    email: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    occupation_code: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime]


COLUMNS = ("id", "email", "name", "occupation_code", "created_at")


async def page(url: str, limit: int, offset: int) -> tuple[int, list[tuple[str, ...]]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            total = (await conn.execute(select(func.count()).select_from(User))).scalar_one()
            listed = select(*(getattr(User, name) for name in COLUMNS))
            found = await conn.execute(listed.order_by(User.created_at).limit(limit).offset(offset))
            return total, [tuple(str(value) for value in row) for row in found]
    finally:
        await engine.dispose()


@app.command("list")
def list_users(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    total, rows = asyncio.run(page(FloorSettings().database_url, limit, offset))
    console = Console()
    if json:
        users = [dict(zip(COLUMNS, row, strict=True)) for row in rows]
        console.print_json(data={"total": total, "users": users})
        return
    table = Table(title=f"{total} users")
    for column in COLUMNS:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)


@app.command("version")
def version() -> None:
    """A second command, so that ``list`` is a sub-command as in ``qulab user list``."""


if __name__ == "__main__":
    app()
