"""Apply by writing and Analyze by predicting in headless Chromium, on the embedded default and
on PostgreSQL with Redis: an answer typed into the editor is graded wrong with a hint, then
right; a prediction made before the strategy comparison is graded from the measured table.
Screenshots go to test-output/browser-write-predict/<stack>/."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tests import services
from tests.e2e.server import ROOT, lab_environment, running, streamlit_run
from tests.e2e.steps import open_step
from tests.e2e.test_browser import CHROMIUM_ARGS, WAIT_MS, Stack, stack

__all__ = ["stack"]  # the parametrized stack fixture, shared with the main walk

SCREENSHOTS = ROOT / "test-output" / "browser-write-predict"
RUN_MS = 240_000
WRONG = "def query():\n    return select(User).where(exercise_users).order_by(User.email)\n"
RIGHT = (
    "def query():\n"
    "    return (\n"
    "        select(User)\n"
    "        .where(exercise_users)\n"
    "        .order_by(User.email)\n"
    "        .options(selectinload(User.scores))\n"
    "    )\n"
)


def test_an_answer_is_written_and_graded_and_a_prediction_is_graded(
    chromium: Path, tmp_path: Path, stack: Stack
) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    shots = SCREENSHOTS / stack.name
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    port = services.free_port()
    env = lab_environment(stack.database_url) | stack.settings

    def open_section(page: Page, title: str) -> None:
        page.locator('[data-testid="stSidebarNav"] a', has_text=title).click()
        expect(page.locator('[data-testid="stSidebarNav"] a[aria-current="page"]')).to_contain_text(
            title, timeout=WAIT_MS
        )

    def settle(page: Page) -> None:
        page.wait_for_timeout(300)
        expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=RUN_MS)

    def check(page: Page, source: str) -> None:
        editor = page.locator('[data-testid="stTextArea"] textarea')
        # After a change of exercise the previous editor may linger until the rerun finishes.
        expect(editor).to_have_count(1, timeout=RUN_MS)
        editor.fill(source)
        page.get_by_role("button", name="Check My Answer").click()
        settle(page)

    def predict(page: Page, question: str, option: str) -> None:
        group = page.locator('[data-testid="stRadio"]', has_text=question)
        group.get_by_text(option, exact=True).click()
        settle(page)

    with (
        running(streamlit_run(port), port, env, tmp_path / "server.log") as (base_url, _),
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(base_url, wait_until="domcontentloaded")
            expect(page.get_by_role("heading", name=re.compile("Data Architecture"))).to_be_visible(
                timeout=WAIT_MS
            )
            open_section(page, "2. DB Connectivity & Pooling")
            page.get_by_role("button", name="Initialize Database & Create Sample Users").click()
            expect(page.get_by_text("Alex Smith user ID:")).to_be_visible(timeout=WAIT_MS)
            settle(page)

            # Apply by writing: no hint before an attempt; a wrong answer, then a right one.
            open_section(page, "3. Repository Pattern & N+1")
            open_step(page, "6. Apply: write it")
            page.get_by_text("Users with their scores, loaded eagerly", exact=True).click()
            settle(page)
            expect(page.get_by_text("Hint 1:")).to_have_count(0)
            check(page, WRONG)
            expect(
                page.get_by_text(re.compile(r"Not yet: User\.scores was not loaded"))
            ).to_be_visible(timeout=RUN_MS)
            expect(page.get_by_text(re.compile("^Hint 1:"))).to_be_visible()
            page.get_by_text(re.compile("^Hint 1:")).scroll_into_view_if_needed()
            page.screenshot(path=shots / "01-apply-wrong.png")
            check(page, RIGHT)
            expect(
                page.get_by_text(re.compile(r"Correct: \d+ rows .* in 2 statements \(budget 2\)"))
            ).to_be_visible(timeout=RUN_MS)
            expect(page.get_by_text(re.compile("^Hint 1:"))).to_have_count(0)
            page.get_by_text(re.compile(r"^Correct: ")).scroll_into_view_if_needed()
            page.screenshot(path=shots / "02-apply-right.png")

            # Analyze by predicting: three answers, the run, the grade from its table.
            open_section(page, "4. Caching with Redis")
            open_step(page, "5. Compare strategies")
            predict(page, "most stale reads?", "ttl-only")
            predict(page, "load the database least", "write-through")
            predict(page, "the mean hit ratio", "rises")
            page.get_by_role("button", name="Run the comparison").click()
            settle(page)
            expect(page.get_by_text(re.compile(r"\d of 3 predictions right\."))).to_be_visible(
                timeout=RUN_MS
            )
            graded = page.locator('[data-testid="stAlert"]').filter(
                has_text=re.compile(r"(Right|Missed)\. (Which|Going)")
            )
            expect(graded).to_have_count(3)
            expect(graded.filter(has_text="most stale reads?")).to_contain_text(
                re.compile(r"\d+ of \d+ reads")
            )
            expect(graded.filter(has_text="% with uniform keys")).to_have_count(1)
            graded.last.scroll_into_view_if_needed()
            page.screenshot(path=shots / "03-prediction-graded.png")
        finally:
            browser.close()
