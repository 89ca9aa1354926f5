"""Pages that guide, in a real browser: every page opens on the step to do, and no step is a wall.

On the embedded default, after "Initialize Database & Create Sample Users", visits every page,
checks that the open tab is step 1 (on page 2, whose set-up is done, step 2), then opens each
step in turn and measures the main area's scroll height (the page's own scroll container). The
heights are written to test-output/browser-steps/heights.json. Before the pages were split into
steps the tallest one (1. Data Models, fresh database) measured 6,091 px at 1400 x 1000, and
Create's single "Design and grade" step about 2,000 px; now no step may pass 2,400 px (the
tallest, the ER diagram, measures about 2,000).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from qulab.entrypoints.app.navigation import PAGES
from qulab.entrypoints.app.steps import step_labels
from tests import services
from tests.e2e.server import ROOT, lab_environment, running, streamlit_run
from tests.e2e.steps import open_step
from tests.e2e.test_browser import CHROMIUM_ARGS

OUTPUT = ROOT / "test-output" / "browser-steps"
WAIT_MS = 60_000
STEP_LIMIT_PX = 2_400
OPENS_ON = {"2. DB Connectivity & Pooling": 1}  # its step 1, the set-up, is done
HEIGHT_JS = "() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight"


def _steps_of(module: str) -> list[str]:
    section = importlib.import_module(f"qulab.entrypoints.app.sections.{module}")
    return step_labels(section.STEPS)


def test_every_page_opens_on_the_step_to_do_and_no_step_is_a_wall(
    chromium: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    port = services.free_port()
    env = lab_environment(f"sqlite+aiosqlite:///{tmp_path / 'lab.db'}")

    def settle(page: Page) -> None:
        page.wait_for_timeout(300)
        expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=WAIT_MS)

    def open_section(page: Page, title: str) -> None:
        page.locator('[data-testid="stSidebarNav"] a', has_text=title).click()
        expect(page.locator('[data-testid="stSidebarNav"] a[aria-current="page"]')).to_contain_text(
            title, timeout=WAIT_MS
        )
        settle(page)

    heights: dict[str, dict[str, int]] = {}
    with (
        running(streamlit_run(port), port, env, tmp_path / "server.log") as (base_url, _),
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(base_url, wait_until="domcontentloaded")
            settle(page)
            open_section(page, "2. DB Connectivity & Pooling")
            page.get_by_role("button", name="Initialize Database & Create Sample Users").click()
            expect(page.get_by_text("Alex Smith user ID:")).to_be_visible(timeout=WAIT_MS)
            settle(page)
            for spec in PAGES:
                open_section(page, spec.title)
                labels = _steps_of(spec.module)
                opened = labels[OPENS_ON.get(spec.title, 0)]
                first = page.get_by_role("tab", name=opened, exact=True)
                expect(first).to_have_attribute("aria-selected", "true", timeout=WAIT_MS)
                shown = page.locator('[data-testid="stMain"] [role="tablist"]').first
                expect(shown.get_by_role("tab")).to_have_text(labels)
                heights[spec.title] = {}
                for label in labels:
                    open_step(page, label)
                    settle(page)
                    heights[spec.title][label] = int(page.evaluate(HEIGHT_JS))
        finally:
            browser.close()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "heights.json").write_text(json.dumps(heights, indent=1) + "\n")
    walls = {
        f"{title} / {label}": height
        for title, steps in heights.items()
        for label, height in steps.items()
        if height > STEP_LIMIT_PX
    }
    assert not walls, f"steps taller than {STEP_LIMIT_PX} px: {walls}"
