"""Create in a real browser: the event table designed over its steps, graded beside the reference.

Opens "Create: design an event table" (columns, indexes, the relay's claim, the grade), grades
the design without a row lock (on PostgreSQL two relays then publish the same events; on SQLite
they take turns; the preset design is graded in the guide's walk), and submits a design that
cannot work (refused in one line), saving a screenshot of each step in test-output/browser-
design/<stack>/. Runs on the embedded default and on PostgreSQL with Redis.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import services
from tests.cache_support import delete_prefix
from tests.e2e.server import ROOT, lab_environment, running, streamlit_run
from tests.e2e.steps import open_step
from tests.e2e.test_browser import CHROMIUM_ARGS, Stack

SCREENSHOTS = ROOT / "test-output" / "browser-design"
WAIT_MS = 120_000
PAGE_TITLE = "Create: design an event table"


@pytest.fixture(params=["embedded", "postgresql+redis"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    if request.param == "embedded":
        yield Stack("embedded", f"sqlite+aiosqlite:///{tmp_path / 'lab.db'}", {})
        return
    redis_url = str(request.getfixturevalue("redis_url"))
    database_url = str(request.getfixturevalue("fresh_pg_url"))
    prefix = services.unique_name("qulab_e2e_design")
    yield Stack(
        "services",
        database_url,
        {"QULAB_REDIS_URL": redis_url, "QULAB_CACHE_PREFIX": f"{prefix}:"},
    )
    asyncio.run(delete_prefix(redis_url, prefix))


@pytest.fixture
def screenshots(stack: Stack) -> Iterator[Path]:
    folder = SCREENSHOTS / stack.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    yield folder


def test_a_learner_designs_an_event_table_in_chromium(
    chromium: Path, tmp_path: Path, stack: Stack, screenshots: Path
) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    port = services.free_port()
    env = lab_environment(stack.database_url) | stack.settings

    def capture(page: Page, name: str) -> None:
        height = page.evaluate(
            "() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight"
        )
        page.set_viewport_size({"width": 1400, "height": min(max(int(height), 1000), 8000)})
        page.wait_for_timeout(500)
        page.screenshot(path=screenshots / name, full_page=True)
        page.set_viewport_size({"width": 1400, "height": 1000})

    def settle(page: Page) -> None:
        page.wait_for_timeout(300)
        expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=WAIT_MS)

    def submit(page: Page) -> None:
        page.get_by_role("button", name="Grade my design").click()
        settle(page)

    with (
        running(streamlit_run(port), port, env, tmp_path / "server.log") as (base_url, _),
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(base_url, wait_until="domcontentloaded")
            nav = page.locator('[data-testid="stSidebarNav"] a', has_text=PAGE_TITLE)
            nav.click(timeout=WAIT_MS)
            expect(page.get_by_role("heading", name=PAGE_TITLE)).to_be_visible(timeout=WAIT_MS)
            sqlite = stack.name == "embedded"
            notice = page.get_by_text("the lock options change nothing")
            settle(page)
            capture(page, "01-design-columns.png")
            open_step(page, "3. The relay's claim")
            expect(notice).to_have_count(1 if sqlite else 0)
            open_step(page, "4. Grade")
            expect(page.get_by_role("button", name="Grade my design")).to_be_visible()

            # No row lock (the preset design is graded in the guide's walk, test_browser.py),
            # beside the reference: on PostgreSQL both relays publish the first batch.
            open_step(page, "3. The relay's claim")
            page.get_by_text("no row lock", exact=True).click()
            settle(page)
            open_step(page, "4. Grade")
            submit(page)
            main = page.locator("[data-testid='stMain']")
            graded = main.get_by_text(re.compile(r"^Your design: .*no row lock, batch 50"))
            expect(graded).to_be_visible(timeout=WAIT_MS)
            expect(main.get_by_text("your design, then the reference")).to_be_visible()
            table = main.locator("[data-testid='stTable']")
            expect(table.get_by_text("events published twice", exact=True)).to_be_visible()
            expect(table.get_by_text("reference", exact=True)).to_be_visible()
            expect(main.get_by_text("The claim's plan, yours and the reference's")).to_be_visible()
            twice = main.get_by_text(re.compile(r"events were published twice"))
            if sqlite:
                expect(twice).to_have_count(0)
            else:
                expect(twice).to_be_visible()
            capture(page, "02-no-row-lock.png")

            # A design that cannot work: refused in one line, nothing graded.
            open_step(page, "3. The relay's claim")
            order = main.locator('[data-testid="stSelectbox"]', has_text="Order by")
            order.locator("input").click()
            page.keyboard.type("none")
            page.keyboard.press("Enter")
            page.get_by_text("Hold an aggregate back while an earlier event").click()
            settle(page)
            open_step(page, "4. Grade")
            submit(page)
            expect(
                main.get_by_text(
                    "This design cannot be built: holding an aggregate back needs the claim "
                    "to order by a column. Nothing was created."
                )
            ).to_be_visible(timeout=WAIT_MS)
            expect(main.locator("[data-testid='stTable']")).to_have_count(0)
            capture(page, "03-refused.png")
        finally:
            browser.close()
