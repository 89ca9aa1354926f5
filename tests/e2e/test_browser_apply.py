"""The Apply section and the measured figures of pages 1-5 in headless Chromium at 1400 px.

Walks 2. (initialise, the pooling experiment's pool over its run) -> 3. (a repository method
beside its SQL; the single-user pair as medians) -> 4. (a burst from a MISS and one of HITs,
T figures) -> 1. (demo rows counted, then removed) -> 5. (the outbox diagram's labels measured
on screen), saving screenshots in test-output/browser-apply/<stack>/. Runs on the embedded
default and on PostgreSQL + Redis + RabbitMQ. The written Apply exercise is in the guide's walk
(test_browser.py).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import services
from tests.e2e.server import ROOT, lab_environment, running, streamlit_run
from tests.e2e.steps import open_step
from tests.e2e.test_browser import CHROMIUM_ARGS, WAIT_MS, Stack, _users, stack

__all__ = ["stack"]  # the parametrized stack fixture, shared with the main walk

SCREENSHOTS = ROOT / "test-output" / "browser-apply"
WIDTH = 1400
MIN_LABEL_PX = 12.0

# The on-screen size of every label in an SVG: font-size times the text's scale on screen.
LABEL_PX_JS = """
(svg) => Array.from(svg.querySelectorAll('text')).map((text) => {
  const size = parseFloat(text.getAttribute('font-size') || getComputedStyle(text).fontSize);
  const ctm = text.getScreenCTM();
  return {text: text.textContent, px: size * Math.hypot(ctm.a, ctm.b)};
})
"""


@pytest.fixture
def apply_screenshots(stack: Stack) -> Iterator[Path]:
    folder = SCREENSHOTS / stack.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    yield folder


def test_apply_and_measured_figures_walk_in_chromium(
    chromium: Path, tmp_path: Path, stack: Stack, apply_screenshots: Path
) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    port = services.free_port()
    env = lab_environment(stack.database_url) | stack.settings

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
        # Charts and tables draw when scrolled into view: visit each shown one (the open step's)
        # before the full shot.
        drawn = page.locator(
            "[data-testid='stMain'] [data-testid='stVegaLiteChart'], "
            "[data-testid='stMain'] [data-testid='stDataFrame']"
        )
        for index in range(drawn.count()):
            if not drawn.nth(index).is_visible():
                continue
            drawn.nth(index).scroll_into_view_if_needed()
            page.wait_for_timeout(300)
        page.set_viewport_size({"width": WIDTH, "height": min(max(int(height), 1000), 8000)})
        page.wait_for_timeout(1000)
        page.screenshot(path=apply_screenshots / name, full_page=True)
        page.set_viewport_size({"width": WIDTH, "height": 1000})

    def choose(page: Page, label: str, option: str) -> None:
        box = page.locator('[data-testid="stSelectbox"]', has_text=label)
        box.locator("input").click()
        page.keyboard.type(option)
        page.keyboard.press("Enter")
        settle(page)
        expect(box.locator("input")).to_have_value(option)

    def metric(page: Page, label: str) -> Any:
        return page.locator("[data-testid='stMain'] [data-testid='stMetric']", has_text=label)

    with (
        running(streamlit_run(port), port, env, tmp_path / "server.log") as (base_url, _),
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": 1000})
            page.goto(base_url, wait_until="domcontentloaded")
            expect(page.get_by_role("heading", name=re.compile("Data Architecture"))).to_be_visible(
                timeout=WAIT_MS
            )

            # 2. Initialise, then the pooling experiment draws its own pool over the run.
            open_section(page, "2. DB Connectivity & Pooling")
            page.get_by_role("button", name="Initialize Database & Create Sample Users").click()
            expect(page.get_by_text("Alex Smith user ID:")).to_be_visible(timeout=WAIT_MS)
            settle(page)
            # The live pool panel reruns every 2 s; paused, the charts below draw for the shot.
            open_step(page, "2. The pool, live")
            page.get_by_text("Refresh every 2 s").click()
            settle(page)
            open_step(page, "3. Pooling experiment")
            page.get_by_role("button", name="Run Pooling Experiment").click()
            expect(page.get_by_text("Sampled at every checkout and checkin")).to_be_visible(
                timeout=WAIT_MS
            )
            expect(page.get_by_text("Connections checked out during the run")).to_be_visible()
            settle(page)
            capture(page, "01-pool-over-the-run.png")

            # 3. A repository method beside the SQL it sent.
            open_section(page, "3. Repository Pattern & N+1")
            open_step(page, "6. Apply: write it")
            choose(page, "Repository method", "UserRepository.get_user_with_scores_eager")
            expect(page.locator('[data-testid="stCode"]', has_text="selectinload(User.scores)"))
            page.get_by_role("button", name="Run This Method").click()
            expect(
                metric(page, "SQL statements (UserRepository.get_user_with_scores_eager)")
            ).to_contain_text("2", timeout=WAIT_MS)
            expect(page.get_by_text("Rolled back: nothing was kept.")).to_be_visible()
            settle(page)

            # The single-user pair, as medians of warm runs.
            open_step(page, "3. Per-row vs eager")
            page.get_by_role("button", name="Compare Both Side by Side").click()
            expect(page.get_by_text("per-row: median of 7 runs after a warm-up")).to_be_visible(
                timeout=WAIT_MS
            )
            expect(page.get_by_text("For one user both ways need two statements")).to_be_visible()
            settle(page)
            capture(page, "02-single-user-pair.png")

            # 4. Caching: a burst from a MISS, then a burst of hits; T figures from the samples.
            open_section(page, "4. Caching with Redis")
            open_step(page, "2. Fetch through the cache")
            page.get_by_role("button", name="Fetch User (Cached)").click()
            expect(page.get_by_text("Cache MISS on the first fetch; 20 fetches")).to_be_visible(
                timeout=WAIT_MS
            )
            settle(page)
            page.get_by_role("button", name="Fetch User (Cached)").click()
            expect(page.get_by_text("Cache HIT on the first fetch; 20 fetches")).to_be_visible(
                timeout=WAIT_MS
            )
            settle(page)
            open_step(page, "4. Measure")
            expect(metric(page, "Fetches measured")).to_contain_text("40")
            expect(metric(page, "T_database (ms, mean miss - mean hit)")).not_to_contain_text(
                "not measured"
            )
            expect(page.get_by_text("milliseconds (log scale)").first).to_be_attached()
            capture(page, "03-caching-bursts.png")

            # 1. Demo rows counted by marker, then removed; the sample users stay.
            open_section(page, "1. Data Models")
            open_step(page, "3. Create a user")
            expect(
                page.get_by_text(re.compile(r"Of these \d+ users, \d+ are demo users"))
            ).to_be_visible(timeout=WAIT_MS)
            settle(page)
            capture(page, "04-demo-data.png")
            page.get_by_role("button", name="Remove Demo Data").click()
            expect(page.get_by_text(re.compile(r"Removed \d+ demo users"))).to_be_visible(
                timeout=WAIT_MS
            )
            settle(page)
            expect(page.get_by_text("No demo rows at the moment.")).to_be_visible()
            assert not [
                email for email in _users(stack.database_url) if ".seed.qulab.test" in email
            ]
            capture(page, "05-demo-data-removed.png")

            # 5. The outbox diagram: every label at least 12 px on screen at 1400 px.
            open_section(page, "5. Eventing (Outbox Pattern)")
            flow = page.locator(
                '[data-testid="stGraphVizChart"] svg', has_text="calculate_and_store_airscore"
            )
            expect(flow).to_be_visible(timeout=WAIT_MS)
            settle(page)
            labels = flow.evaluate(LABEL_PX_JS)
            assert labels, "the diagram has labels"
            small = [label for label in labels if label["px"] < MIN_LABEL_PX]
            assert not small, small
            flow.screenshot(path=apply_screenshots / "06-outbox-diagram.png")
        finally:
            browser.close()
