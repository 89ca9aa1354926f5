"""Page 5's lab mode in a real browser: headless Chromium against ``streamlit run app.py``.

Initialises the database on page 2, then on page 5 turns lab mode on, sets the publisher
delay, starts the publisher and watches a new score's event go from pending to published,
sees the lab's consumer bring ``user_score_summary`` to match ``air_scores``, and opens
"Break it": on the embedded default it says what to configure; on PostgreSQL with Redis
Streams it runs a small chaos round and shows the counters. Screenshots of each step go to
test-output/browser-outboxlab/<stack>/.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import services
from tests.e2e.server import ROOT, lab_environment, running, streamlit_run
from tests.e2e.steps import open_step
from tests.e2e.test_browser import CHROMIUM_ARGS, UUID, WAIT_MS, _event_status
from tests.waiting import wait_until

SCREENSHOTS = ROOT / "test-output" / "browser-outboxlab"
ROUND_MS = 120_000


@pytest.fixture(params=["embedded", "postgresql+redis"])
def stack(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(name, database URL, QULAB_* settings): the embedded default, or PostgreSQL with Redis
    Streams under a stream prefix of this test's own, removed afterwards."""
    if request.param == "embedded":
        yield "embedded", f"sqlite+aiosqlite:///{tmp_path / 'lab.db'}", {}
        return
    redis_url = str(request.getfixturevalue("redis_url"))
    database_url = str(request.getfixturevalue("fresh_pg_url"))
    prefix = services.unique_name("qulab_e2e_outboxlab") + ":"
    settings = {"QULAB_BROKER_URL": redis_url, "QULAB_OUTBOX_STREAM_PREFIX": prefix}
    try:
        yield "services", database_url, settings
    finally:
        asyncio.run(services.delete_redis_prefix(prefix, redis_url))


def test_lab_mode_on_the_outbox_page_in_chromium(
    chromium: Path, tmp_path: Path, stack: tuple[str, str, dict[str, str]]
) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    name, database_url, settings = stack
    screenshots = SCREENSHOTS / name
    shutil.rmtree(screenshots, ignore_errors=True)
    screenshots.mkdir(parents=True)
    port = services.free_port()
    env = lab_environment(database_url) | settings

    def open_section(page: Page, title: str) -> None:
        page.locator('[data-testid="stSidebarNav"] a', has_text=title).click()
        expect(page.locator('[data-testid="stSidebarNav"] a[aria-current="page"]')).to_contain_text(
            title, timeout=WAIT_MS
        )

    def capture(page: Page, file: str) -> None:
        height = page.evaluate(
            "() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight"
        )
        page.set_viewport_size({"width": 1400, "height": min(max(int(height), 1000), 8000)})
        page.wait_for_timeout(500)
        page.screenshot(path=screenshots / file, full_page=True)
        page.set_viewport_size({"width": 1400, "height": 1000})

    with (
        running(streamlit_run(port), port, env, tmp_path / "server.log") as (base_url, _),
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(base_url, wait_until="domcontentloaded")
            open_section(page, "2. DB Connectivity & Pooling")
            page.get_by_role("button", name="Initialize Database & Create Sample Users").click()
            expect(page.get_by_text("Alex Smith user ID:")).to_be_visible(timeout=WAIT_MS)

            # Lab mode on page 5; a 2 s publisher delay (four steps of 0.5 s on the slider).
            open_section(page, "5. Eventing (Outbox Pattern)")
            open_step(page, "4. Lab mode")
            page.get_by_text("Lab mode: watch, consume, break it").click()
            slider = page.get_by_role("slider")
            expect(slider).to_be_visible(timeout=WAIT_MS)
            slider.focus()
            for _ in range(4):
                slider.press("ArrowRight")
                page.wait_for_timeout(300)
            expect(slider).to_have_value("2", timeout=WAIT_MS)
            page.wait_for_timeout(500)

            # Watch an event move: pending while the relay holds it, then published.
            open_step(page, "2. Calculate and publish")
            page.get_by_role("button", name="Start Event Publisher").click()
            expect(page.get_by_text("publisher running")).to_be_visible(timeout=WAIT_MS)
            page.get_by_role("button", name="Calculate & Store AIRScore").click()
            stored = page.get_by_text(re.compile(f"DomainEvent \\(ID: {UUID}"))
            expect(stored).to_be_visible(timeout=WAIT_MS)
            event_id = re.findall(UUID, stored.inner_text())[-1]
            open_step(page, "4. Lab mode")
            watch = page.get_by_text(re.compile(f"Event {event_id} .*: pending since"))
            expect(watch).to_be_visible(timeout=WAIT_MS)
            capture(page, "01-lab-event-pending.png")
            wait_until(
                lambda: _event_status(database_url, event_id) == "published",
                "the delayed publisher to publish",
                timeout=WAIT_MS / 1000,
                interval=0.2,
            )
            expect(
                page.get_by_text(re.compile(f"Event {event_id} .*: published at"))
            ).to_be_visible(timeout=WAIT_MS)
            capture(page, "02-lab-event-published.png")

            # The lab's consumer applied it: the projection matches air_scores.
            expect(page.get_by_text(re.compile("matches air_scores: yes"))).to_be_visible(
                timeout=WAIT_MS
            )
            expect(page.get_by_text("Delivered to the lab's consumer")).to_be_visible()
            capture(page, "03-lab-projection-converged.png")
            open_step(page, "2. Calculate and publish")
            page.get_by_role("button", name="Stop Event Publisher").click()
            expect(page.locator('[data-testid="stSidebar"]')).to_contain_text(
                "publisher stopped", timeout=WAIT_MS
            )

            # Break it.
            open_step(page, "4. Lab mode")
            if name == "embedded":
                expect(
                    page.get_by_text(re.compile("QULAB_BROKER_URL=redis://127.0.0.1:6379/0"))
                ).to_be_visible(timeout=WAIT_MS)
                capture(page, "04-lab-break-it-configure.png")
            else:
                page.get_by_role("button", name="Break it: run a chaos round").click()
                expect(page.get_by_text(re.compile("Round passed: "))).to_be_visible(
                    timeout=ROUND_MS
                )
                main = page.locator("[data-testid='stMain']")
                expect(main.locator("[data-testid='stMetric']", has_text="Lost")).to_contain_text(
                    "0"
                )
                expect(
                    main.locator("[data-testid='stMetric']", has_text="Projection matches")
                ).to_contain_text("yes")
                capture(page, "04-lab-break-it-round.png")
        finally:
            browser.close()
