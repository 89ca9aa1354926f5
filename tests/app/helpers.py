"""Driving the lab in AppTest and checking the database behind it."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import streamlit as st
from markdown_it import MarkdownIt
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.entrypoints.app.navigation import PageSpec
from qulab.platform.application import bootstrap
from qulab.platform.models import User

ROOT = Path(__file__).resolve().parents[2]
APP_SCRIPT = ROOT / "app.py"
RUN_TIMEOUT = 60.0


def open_runtime() -> AppTest:
    """A new browser session on the lab (the Introduction page)."""
    return AppTest.from_file(str(APP_SCRIPT), default_timeout=RUN_TIMEOUT).run()


def go_to(at: AppTest, page: PageSpec) -> AppTest:
    return at.switch_page(str(page.path)).run()


def restart_server() -> None:
    """What a server restart loses: every cached resource (loop, engine, pool)."""
    st.cache_resource.clear()


def query(url: str, work: Callable[[Database], Awaitable[Any]]) -> Any:
    """Run ``work(db)`` against ``url`` outside the app, on its own engine."""

    async def _go() -> Any:
        async with bootstrap(Settings().replace(database_url=url)) as runtime:
            return await work(runtime.db)

    return asyncio.run(_go())


def texts(elements: Any) -> list[str]:
    return [str(element.value) for element in elements]


_MARKDOWN = MarkdownIt("commonmark").enable(["strikethrough", "table"])


def markdown_html(source: str) -> str:
    """``source`` rendered as CommonMark (what the browser builds from an element's body)."""
    return str(_MARKDOWN.render(source))


def shown(elements: Any) -> list[str]:
    """The text a reader sees in each element: its Markdown rendered, tags dropped."""
    return [
        html.unescape(re.sub(r"<[^>]+>", "", markdown_html(str(element.value)))).strip()
        for element in elements
    ]


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def user_emails(url: str) -> dict[str, str]:
    """email -> id of every user row."""

    async def _read(db: Database) -> dict[str, str]:
        async with db.session() as session:
            rows = await session.execute(select(User.email, User.id))
            return {email: user_id for email, user_id in rows.all()}

    return dict(query(url, _read))


def user_count(url: str) -> int:
    async def _count(db: Database) -> int:
        async with db.session() as session:
            return int(await session.scalar(select(func.count()).select_from(User)) or 0)

    return int(query(url, _count))
