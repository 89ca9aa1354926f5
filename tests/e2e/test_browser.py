"""The lab in a real browser: headless Chromium against ``streamlit run app.py`` on localhost.

Walks Introduction -> 1. Data Models (told to initialise first) -> 2. DB Connectivity & Pooling
(initialise, Alex and Jane) -> 1. Data Models (create a user, see its id; a duplicate is
refused) -> 2. (pooling experiment, pool exhaustion) -> 3. Repository & N+1 (three scores,
per-row vs eager, N users) -> 4. Caching (a burst from a MISS, then one of HITs) -> 5. Eventing
(a score and its pending event, one publishing pass, the background publisher), saving a
screenshot of each step in test-output/browser/<stack>/. It runs on the embedded default and on
PostgreSQL with a Redis cache and Redis Streams.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.core.models import DomainEvent
from qulab.lab import DEMO_USERS
from qulab.platform.models import User
from tests import services
from tests.cache_support import delete_prefix
from tests.e2e.server import ROOT, lab_environment, running, streamlit_run
from tests.e2e.steps import open_step
from tests.waiting import wait_until

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "test-output" / "browser"
WAIT_MS = 30_000
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@dataclass(frozen=True)
class Stack:
    """What the lab server runs on: its database URL and the QULAB_* settings besides it."""

    name: str
    database_url: str
    settings: dict[str, str]


@pytest.fixture(params=["embedded", "postgresql+redis"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """The embedded default (SQLite, in-process cache, in-memory broker), or PostgreSQL with a
    Redis cache and Redis Streams, each under names of this test's own, removed afterwards."""
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


def _users(url: str) -> dict[str, str]:
    """email -> id of every user row (on a thread: Playwright's sync API owns this one's loop)."""

    async def _read() -> dict[str, str]:
        db = Database(Settings().replace(database_url=url))
        try:
            async with db.session() as session:
                rows = await session.execute(select(User.email, User.id))
                return {email: user_id for email, user_id in rows.all()}
        finally:
            await db.dispose()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(_read())).result()


def _event_status(url: str, event_id: str) -> str | None:
    async def _read() -> str | None:
        db = Database(Settings().replace(database_url=url))
        try:
            async with db.session() as session:
                event = await session.get(DomainEvent, event_id)
                return event.status if event is not None else None
        finally:
            await db.dispose()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(_read())).result()


def test_a_new_user_walks_the_first_pages_in_chromium(
    chromium: Path, tmp_path: Path, stack: Stack, screenshots: Path
) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    database_url = stack.database_url
    port = services.free_port()
    env = lab_environment(database_url) | stack.settings

    def open_section(page: Page, title: str) -> None:
        page.locator('[data-testid="stSidebarNav"] a', has_text=title).click()
        expect(page.locator('[data-testid="stSidebarNav"] a[aria-current="page"]')).to_contain_text(
            title, timeout=WAIT_MS
        )

    def capture(page: Page, name: str) -> None:
        """Screenshot the whole page: grow the viewport to the main area's scroll height."""
        height = page.evaluate(
            "() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight"
        )
        page.set_viewport_size({"width": 1400, "height": min(max(int(height), 1000), 8000)})
        page.wait_for_timeout(500)
        page.screenshot(path=screenshots / name, full_page=True)
        page.set_viewport_size({"width": 1400, "height": 1000})

    def settle(page: Page) -> None:
        """Wait until the script run has finished (no running indicator)."""
        page.wait_for_timeout(300)
        expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=WAIT_MS)

    with (
        running(streamlit_run(port), port, env, tmp_path / "server.log") as (base_url, _),
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(base_url, wait_until="domcontentloaded")

            # Introduction, with the architecture drawn by the app.
            expect(page.get_by_role("heading", name=re.compile("Data Architecture"))).to_be_visible(
                timeout=WAIT_MS
            )
            open_step(page, "2. Architecture")
            architecture = page.locator('[data-testid="stGraphVizChart"] svg')
            expect(architecture.locator("text", has_text="unit of work")).to_be_visible(
                timeout=WAIT_MS
            )
            open_step(page, "1. The story")
            expect(page.get_by_text("You are Alex")).to_be_visible()
            settle(page)
            capture(page, "01-introduction.png")

            # 1. Data Models before the database exists: pointed at page 2.
            open_section(page, "1. Data Models")
            open_step(page, "3. Create a user")
            expect(page.get_by_text("The database has no QuLab tables yet")).to_be_visible(
                timeout=WAIT_MS
            )
            open_step(page, "1. The models")
            expect(page.locator('[data-testid="stCode"]').first).to_contain_text("class User")
            open_step(page, "2. ER diagram")
            er_diagram = page.locator('[data-testid="stGraphVizChart"] svg')
            for table in ("users", "assessments", "air_scores", "domain_events"):
                expect(er_diagram.locator("text", has_text=table).first).to_be_visible(
                    timeout=WAIT_MS
                )
            settle(page)
            capture(page, "02-data-models-before-setup.png")

            # 2. DB Connectivity & Pooling: initialise; Alex and Jane with their ids.
            open_section(page, "2. DB Connectivity & Pooling")
            page.get_by_role("button", name="Initialize Database & Create Sample Users").click()
            expect(page.get_by_text("Alex Smith user ID:")).to_be_visible(timeout=WAIT_MS)
            expect(page.get_by_text("Jane Doe user ID:")).to_be_visible()
            settle(page)
            rows = _users(database_url)
            body = page.locator("section.main, [data-testid='stMain']").first.inner_text()
            for email, name, *_ in DEMO_USERS:
                assert f"{name} user ID: {rows[email]}" in body
            capture(page, "03-connectivity-initialised.png")

            # 1. Data Models: create a user and see its id.
            open_section(page, "1. Data Models")
            open_step(page, "3. Create a user")
            page.get_by_label("Email", exact=True).fill("maria.lopez@example.com")
            page.get_by_label("Name", exact=True).fill("Maria Lopez")
            page.get_by_role("button", name="Create User").click()
            created = page.get_by_text(re.compile(f"User 'Maria Lopez' created with ID: {UUID}"))
            expect(created).to_be_visible(timeout=WAIT_MS)
            settle(page)
            new_id = _users(database_url)["maria.lopez@example.com"]
            assert created.inner_text().endswith(new_id)
            capture(page, "04-data-models-user-created.png")

            # The same email again: refused, nothing written.
            page.get_by_role("button", name="Create User").click()
            expect(page.get_by_text("already exists")).to_be_visible(timeout=WAIT_MS)
            settle(page)
            assert len(_users(database_url)) == 3
            capture(page, "05-data-models-duplicate.png")

            # 2. The pooling experiment and the pool-exhaustion demonstration.
            open_section(page, "2. DB Connectivity & Pooling")
            open_step(page, "3. Pooling experiment")
            page.get_by_role("button", name="Run Pooling Experiment").click()
            expect(page.get_by_text("Θ pooled (requests/s)")).to_be_visible(timeout=WAIT_MS)
            open_step(page, "4. Pool exhaustion")
            page.get_by_role("button", name="Run Pool Exhaustion Demo").click()
            expect(page.get_by_text(re.compile(r"3 of 5 holders \("))).to_be_visible(
                timeout=WAIT_MS
            )
            settle(page)
            capture(page, "06-connectivity-pooling-experiment.png")

            # 3. Repository & N+1: three scores for Alex, per-row vs eager, then N users.
            open_section(page, "3. Repository Pattern & N+1")
            open_step(page, "2. Choose a user, add scores")
            page.get_by_role("button", name="Add 3 Sample Scores for User").click()
            alex_id = rows[DEMO_USERS[0][0]]
            expect(
                page.get_by_text(f"3 sample scores added for Alex Smith (ID: {alex_id})")
            ).to_be_visible(timeout=WAIT_MS)
            open_step(page, "3. Per-row vs eager")
            page.get_by_role("button", name="Fetch User & Scores (Per-row, N+1)").click()
            expect(page.get_by_text("SQL statements (per-row)")).to_be_visible(timeout=WAIT_MS)
            page.get_by_role("button", name="Fetch User & Scores (Eager Loading)").click()
            expect(page.get_by_text("Both strategies loaded identical data: yes.")).to_be_visible()
            open_step(page, "4. N users")
            page.get_by_role("button", name="Compare Per-row vs Eager for N Users").click()
            expect(page.get_by_text("Per-row statements (N = 50)")).to_be_visible(timeout=WAIT_MS)
            main = page.locator("[data-testid='stMain']")
            expect(
                main.locator("[data-testid='stMetric']", has_text="Per-row statements (N = 50)")
            ).to_contain_text("51")
            expect(
                main.locator("[data-testid='stMetric']", has_text="Eager statements (N = 50)")
            ).to_contain_text("2")
            settle(page)
            capture(page, "07-repository-nplusone.png")

            # 4. Caching: the first fetch is a MISS, the second a HIT.
            open_section(page, "4. Caching with Redis")
            open_step(page, "2. Fetch through the cache")
            expect(page.get_by_text(f"User ID {alex_id}", exact=False).first).to_be_visible(
                timeout=WAIT_MS
            )
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
            expect(main.locator("[data-testid='stMetric']", has_text="Cache hits")).to_contain_text(
                "39"
            )
            capture(page, "08-caching-miss-then-hit.png")

            # 5. Eventing: a score and its pending event, then one publishing pass.
            open_section(page, "5. Eventing (Outbox Pattern)")
            expect(page.locator('[data-testid="stGraphVizChart"] svg').first).to_be_visible(
                timeout=WAIT_MS
            )
            open_step(page, "2. Calculate and publish")
            page.get_by_role("button", name="Calculate & Store AIRScore").click()
            stored = page.get_by_text(re.compile(f"DomainEvent \\(ID: {UUID}"))
            expect(stored).to_be_visible(timeout=WAIT_MS)
            settle(page)
            event_id = re.findall(UUID, stored.inner_text())[-1]
            assert _event_status(database_url, event_id) == "pending"
            open_step(page, "3. Event status")
            expect(page.get_by_text("Pending Events (Awaiting Publication)")).to_be_visible()
            capture(page, "09-eventing-pending.png")

            open_step(page, "2. Calculate and publish")
            page.get_by_role("button", name="Publish pending now (one pass)").click()
            expect(page.get_by_text(re.compile(r"One pass: \d+ claimed"))).to_be_visible(
                timeout=WAIT_MS
            )
            settle(page)
            assert _event_status(database_url, event_id) == "published"
            open_step(page, "3. Event status")
            expect(page.get_by_text("No pending events.")).to_be_visible()
            capture(page, "10-eventing-published.png")
            open_step(page, "2. Calculate and publish")

            # A simulated broker outage: the pass fails, the event stays pending with its error.
            page.get_by_text("Simulate broker outage").click()
            expect(page.get_by_text("outage on")).to_be_visible(timeout=WAIT_MS)
            page.get_by_role("button", name="Calculate & Store AIRScore").click()
            expect(page.get_by_text(re.compile(f"DomainEvent \\(ID: {UUID}"))).to_be_visible(
                timeout=WAIT_MS
            )
            settle(page)
            page.get_by_role("button", name="Publish pending now (one pass)").click()
            expect(page.get_by_text("The broker is unavailable")).to_be_visible(timeout=WAIT_MS)
            settle(page)
            capture(page, "11-eventing-outage.png")
            page.get_by_text("Simulate broker outage").click()
            expect(page.get_by_text("outage off")).to_be_visible(timeout=WAIT_MS)
            settle(page)

            # The background publisher: started, it publishes a new score's event by itself.
            page.get_by_role("button", name="Start Event Publisher").click()
            expect(page.get_by_text("publisher running")).to_be_visible(timeout=WAIT_MS)
            page.get_by_role("button", name="Calculate & Store AIRScore").click()
            expect(page.get_by_text(re.compile(f"DomainEvent \\(ID: {UUID}"))).to_be_visible(
                timeout=WAIT_MS
            )
            settle(page)
            later = re.findall(
                UUID, page.get_by_text(re.compile(f"DomainEvent \\(ID: {UUID}")).inner_text()
            )[-1]
            assert later != event_id
            wait_until(
                lambda: _event_status(database_url, later) == "published",
                "the background publisher to publish",
                timeout=WAIT_MS / 1000,
                interval=0.2,
            )
            open_step(page, "3. Event status")
            page.get_by_role("button", name="Refresh Event Status Now").click()
            settle(page)
            capture(page, "12-eventing-background-publisher.png")
            open_step(page, "2. Calculate and publish")
            page.get_by_role("button", name="Stop Event Publisher").click()
            expect(
                page.get_by_text("Event publisher stopped after its current batch")
            ).to_be_visible(timeout=WAIT_MS)
            expect(page.locator('[data-testid="stSidebar"]')).to_contain_text("publisher stopped")
        finally:
            browser.close()
