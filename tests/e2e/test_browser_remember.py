"""The Remember views and the knowledge checks in a real browser (headless Chromium).

Introduction (checks graded but not kept yet) -> 2. initialise -> 1. Data Models (the four
relationship types; a wrong answer explained, a right one counted in the sidebar) -> 4. Caching
(a cached fetch, then what is in Redis) -> a server restart, after which the sidebar still shows
the progress. Screenshots go to test-output/browser-remember/<stack>/. Runs on the embedded
default and on PostgreSQL with a Redis cache and Redis Streams.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from qulab.lab import checks
from tests import services
from tests.cache_support import delete_prefix
from tests.e2e.server import ROOT, lab_environment, running, streamlit_run
from tests.e2e.steps import open_step
from tests.e2e.test_browser import CHROMIUM_ARGS, WAIT_MS, Stack

SCREENSHOTS = ROOT / "test-output" / "browser-remember"


@pytest.fixture(params=["embedded", "postgresql+redis"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    if request.param == "embedded":
        yield Stack("embedded", f"sqlite+aiosqlite:///{tmp_path / 'lab.db'}", {})
        return
    redis_url = str(request.getfixturevalue("redis_url"))
    database_url = str(request.getfixturevalue("fresh_pg_url"))
    prefix = services.unique_name("qulab_e2e")
    yield Stack(
        "services",
        database_url,
        {
            "QULAB_REDIS_URL": redis_url,
            "QULAB_CACHE_PREFIX": f"{prefix}:",
            "QULAB_BROKER_URL": redis_url,
            "QULAB_OUTBOX_STREAM_PREFIX": f"{prefix}.",
        },
    )
    asyncio.run(delete_prefix(redis_url, prefix))


@pytest.fixture
def screenshots(stack: Stack) -> Iterator[Path]:
    folder = SCREENSHOTS / stack.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    yield folder


def test_remember_views_and_knowledge_checks_in_chromium(
    chromium: Path, tmp_path: Path, stack: Stack, screenshots: Path
) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    env = lab_environment(stack.database_url) | stack.settings
    question = checks.questions("data_models")[0]
    wrong = next(option for option in question.options if option != question.answer)

    def open_section(page: Page, title: str) -> None:
        page.locator('[data-testid="stSidebarNav"] a', has_text=title).click()
        expect(page.locator('[data-testid="stSidebarNav"] a[aria-current="page"]')).to_contain_text(
            title, timeout=WAIT_MS
        )

    def settle(page: Page) -> None:
        page.wait_for_timeout(300)
        expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=WAIT_MS)

    def capture(page: Page, name: str) -> None:
        height = page.evaluate(
            "() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight"
        )
        page.set_viewport_size({"width": 1400, "height": min(max(int(height), 1000), 8000)})
        page.wait_for_timeout(500)
        page.screenshot(path=screenshots / name, full_page=True)
        page.set_viewport_size({"width": 1400, "height": 1000})

    def answer(page: Page, choice: str) -> None:
        """Pick ``choice`` in the page's first question and check it."""
        radio = page.locator('[data-testid="stRadio"]', has_text=question.answer).first
        radio.locator("label", has_text=choice).first.click()
        settle(page)
        page.get_by_role("button", name="Check answer").first.click()
        settle(page)

    sidebar_progress = '[data-testid="stSidebar"]'

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            port = services.free_port()
            with running(streamlit_run(port), port, env, tmp_path / "server.log") as (url, _):
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(url, wait_until="domcontentloaded")
                open_step(page, "3. Knowledge check")
                expect(page.get_by_text("Knowledge check", exact=True)).to_be_visible(
                    timeout=WAIT_MS
                )
                expect(page.get_by_text("graded but not kept")).to_be_visible()
                settle(page)
                capture(page, "01-introduction-checks.png")

                open_section(page, "2. DB Connectivity & Pooling")
                page.get_by_role("button", name="Initialize Database & Create Sample Users").click()
                expect(page.get_by_text("Alex Smith user ID:")).to_be_visible(timeout=WAIT_MS)
                settle(page)

                open_section(page, "1. Data Models")
                open_step(page, "4. Relationships")
                expect(page.get_by_text("Remember: relationship types")).to_be_visible(
                    timeout=WAIT_MS
                )
                page.get_by_role("tab", name="many-to-many").click()
                expect(
                    page.locator(
                        '[data-testid="stCode"]', has_text="PRIMARY KEY (user_id, skill_id)"
                    )
                ).to_be_visible(timeout=WAIT_MS)
                settle(page)
                capture(page, "02-relationship-types.png")

                open_step(page, "5. Knowledge check")
                answer(page, wrong)
                expect(page.get_by_text("Not quite")).to_be_visible(timeout=WAIT_MS)
                expect(page.locator(sidebar_progress)).to_contain_text(
                    "Knowledge checks: 0/32", timeout=WAIT_MS
                )
                answer(page, question.answer)
                expect(page.get_by_text(f"Right: {question.explanation}")).to_be_visible(
                    timeout=WAIT_MS
                )
                expect(page.locator(sidebar_progress)).to_contain_text(
                    "Knowledge checks: 1/32", timeout=WAIT_MS
                )
                capture(page, "03-knowledge-check-answered.png")

                open_section(page, "4. Caching with Redis")
                open_step(page, "2. Fetch through the cache")
                page.get_by_role("button", name="Fetch User (Cached)").click()
                expect(page.get_by_text("Cache MISS on the first fetch; 20 fetches")).to_be_visible(
                    timeout=WAIT_MS
                )
                settle(page)
                open_step(page, "6. What is in Redis")
                expect(page.get_by_text("Remember: what is in Redis")).to_be_visible()
                expect(page.get_by_text("entry (string)").first).to_be_visible(timeout=WAIT_MS)
                if stack.name == "services":
                    expect(page.get_by_text("Live from Redis")).to_be_visible()
                else:
                    expect(page.get_by_text("No Redis is configured")).to_be_visible()
                capture(page, "04-what-is-in-redis.png")
                page.close()

            # A new server process on the same database: the progress is still there.
            port = services.free_port()
            with running(streamlit_run(port), port, env, tmp_path / "server2.log") as (url, _):
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(url, wait_until="domcontentloaded")
                expect(page.locator(sidebar_progress)).to_contain_text(
                    "Knowledge checks: 1/32", timeout=WAIT_MS
                )
                settle(page)
                capture(page, "05-progress-after-restart.png")
                page.close()
        finally:
            browser.close()
