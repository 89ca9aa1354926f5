"""The README's user guide walked in a real browser: headless Chromium against ``streamlit run
app.py`` on localhost, on the embedded default (SQLite, in-process cache, in-memory broker) and
on PostgreSQL + Redis + RabbitMQ.

It follows "## The lab" page by page and step by step, clicking the buttons by the names the
guide gives them (each one checked against the README): Introduction -> 1. Data Models (told to
initialise first) -> 2. (initialise, the pooling experiment, pool exhaustion) -> 1. (create a
user; a duplicate refused) -> 3. (three scores, per-row vs eager, N users, an answer written in
the editor: wrong, a hint, then right) -> 4. (a MISS then HITs; a prediction made, the
comparison run, the prediction graded) -> 5. (a score and its pending event, one publishing
pass, the event delivered to the lab's consumer in Lab mode, a simulated outage, the background
publisher) -> Create (the event table over its steps, graded beside QuLab's own). It asserts the
figures each step shows, the page opening on the first step not yet done once its set-up is
done, the written answer and the prediction counted in the sidebar's progress, and that no page
ever shows a traceback, saving a screenshot of each step in test-output/browser/<stack>/.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from sqlalchemy import select

from qulab.core.config import Settings
from qulab.core.consumers import queue_name
from qulab.core.db import Database
from qulab.core.models import DomainEvent
from qulab.entrypoints.app.projection_control import LAB_GROUP
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
RUN_MS = 240_000  # grading in the sandbox and the strategy comparison take longer on 2 cores
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
GUIDE = (ROOT / "README.md").read_text(encoding="utf-8").split("## The lab", 1)[1]
GUIDE = GUIDE.split("\n## ", 1)[0]

WRONG_ANSWER = "def query():\n    return select(User).where(exercise_users).order_by(User.email)\n"
RIGHT_ANSWER = (
    "def query():\n"
    "    return (\n"
    "        select(User)\n"
    "        .where(exercise_users)\n"
    "        .order_by(User.email)\n"
    "        .options(selectinload(User.scores))\n"
    "    )\n"
)


@dataclass(frozen=True)
class Stack:
    """What the lab server runs on: its database URL and the QULAB_* settings besides it."""

    name: str
    database_url: str
    settings: dict[str, str]

    @property
    def rabbitmq(self) -> bool:
        return self.settings.get("QULAB_BROKER_URL", "").startswith("amqp")


async def _delete_exchange(url: str, exchange: str) -> None:
    """Remove this test's exchange and the lab consumer's queue bound to it."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        await channel.queue_delete(queue_name(exchange, LAB_GROUP))
        await channel.exchange_delete(exchange)
    finally:
        await connection.close()


@pytest.fixture(params=["embedded", "postgresql+redis+rabbitmq"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """The embedded default (SQLite, in-process cache, in-memory broker), or PostgreSQL with a
    Redis cache and RabbitMQ, each under names of this test's own, removed afterwards: a fresh
    database, a cache prefix, an exchange (and the lab's queue bound to it)."""
    if request.param == "embedded":
        yield Stack("embedded", f"sqlite+aiosqlite:///{tmp_path / 'lab.db'}", {})
        return
    redis_url = str(request.getfixturevalue("redis_url"))
    amqp_url = str(request.getfixturevalue("amqp_url"))
    database_url = str(request.getfixturevalue("fresh_pg_url"))
    prefix = services.unique_name("qulab_e2e")
    exchange = services.unique_name("qulab_e2e_exchange")
    try:
        yield Stack(
            "services",
            database_url,
            {
                "QULAB_REDIS_URL": redis_url,
                "QULAB_CACHE_PREFIX": f"{prefix}:",
                "QULAB_BROKER_URL": amqp_url,
                "QULAB_OUTBOX_EXCHANGE": exchange,
            },
        )
    finally:
        asyncio.run(_delete_exchange(amqp_url, exchange))
        asyncio.run(delete_prefix(redis_url, prefix))


@pytest.fixture
def screenshots(stack: Stack) -> Iterator[Path]:
    folder = SCREENSHOTS / stack.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    yield folder


def _read(url: str, work: Any) -> Any:
    """``work(session)`` on a database of ``url`` (on a thread: Playwright's sync API owns this
    one's loop)."""

    async def _run() -> Any:
        db = Database(Settings().replace(database_url=url))
        try:
            async with db.session() as session:
                return await work(session)
        finally:
            await db.dispose()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(_run())).result()


def _users(url: str) -> dict[str, str]:
    """email -> id of every user row."""

    async def work(session: Any) -> dict[str, str]:
        rows = await session.execute(select(User.email, User.id))
        return {email: user_id for email, user_id in rows.all()}

    return dict(_read(url, work))


def _event_status(url: str, event_id: str) -> str | None:
    async def work(session: Any) -> str | None:
        event = await session.get(DomainEvent, event_id)
        return event.status if event is not None else None

    return _read(url, work)  # type: ignore[no-any-return]


def guide(name: str) -> str:
    """A button or switch as the user guide names it ("## The lab" quotes it)."""
    assert f"“{name}”" in GUIDE, f"the README's lab guide does not name “{name}”"
    return name


def test_the_user_guide_walk_in_chromium(
    chromium: Path, tmp_path: Path, stack: Stack, screenshots: Path
) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    database_url = stack.database_url
    port = services.free_port()
    env = lab_environment(database_url) | stack.settings
    log_path = tmp_path / "server.log"

    def no_traceback(page: Page) -> None:
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        assert "Traceback" not in page.locator("body").inner_text()

    def open_section(page: Page, title: str) -> None:
        page.locator('[data-testid="stSidebarNav"] a', has_text=title).click()
        expect(page.locator('[data-testid="stSidebarNav"] a[aria-current="page"]')).to_contain_text(
            title, timeout=WAIT_MS
        )

    def settle(page: Page, timeout: float = WAIT_MS) -> None:
        """Wait until the script run has finished (no running indicator)."""
        page.wait_for_timeout(300)
        expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=timeout)

    def capture(page: Page, name: str) -> None:
        """Screenshot the whole page (grown to the main area's scroll height); no traceback."""
        no_traceback(page)
        height = page.evaluate(
            "() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight"
        )
        page.set_viewport_size({"width": 1400, "height": min(max(int(height), 1000), 8000)})
        page.wait_for_timeout(500)
        page.screenshot(path=screenshots / name, full_page=True)
        page.set_viewport_size({"width": 1400, "height": 1000})

    def click(page: Page, name: str) -> None:
        page.get_by_role("button", name=guide(name)).click()

    def check_answer(page: Page, source: str) -> None:
        editor = page.locator('[data-testid="stTextArea"] textarea')
        expect(editor).to_have_count(1, timeout=RUN_MS)
        editor.fill(source)
        click(page, "Check My Answer")
        settle(page, RUN_MS)

    def predict(page: Page, question: str, option: str) -> None:
        group = page.locator('[data-testid="stRadio"]', has_text=question)
        group.get_by_text(option, exact=True).click()
        settle(page)

    with (
        running(streamlit_run(port), port, env, log_path) as (base_url, _),
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
            broker_word = "RabbitMQ" if stack.rabbitmq else "in-memory"
            expect(architecture.locator("text", has_text=broker_word).first).to_be_visible()
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
            click(page, "Initialize Database & Create Sample Users")
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
            click(page, "Create User")
            created = page.get_by_text(re.compile(f"User 'Maria Lopez' created with ID: {UUID}"))
            expect(created).to_be_visible(timeout=WAIT_MS)
            settle(page)
            new_id = _users(database_url)["maria.lopez@example.com"]
            assert created.inner_text().endswith(new_id)
            capture(page, "04-data-models-user-created.png")

            # The same email again: refused, nothing written.
            click(page, "Create User")
            expect(page.get_by_text("already exists")).to_be_visible(timeout=WAIT_MS)
            settle(page)
            assert len(_users(database_url)) == 3
            capture(page, "05-data-models-duplicate.png")

            # 2. Its set-up done, the page now opens on the first step not yet done.
            open_section(page, "2. DB Connectivity & Pooling")
            expect(page.get_by_role("tab", name="2. The pool, live", exact=True)).to_have_attribute(
                "aria-selected", "true", timeout=WAIT_MS
            )
            # The pooling experiment and the pool-exhaustion demonstration.
            open_step(page, "3. Pooling experiment")
            click(page, "Run Pooling Experiment")
            expect(page.get_by_text("Θ pooled (requests/s)")).to_be_visible(timeout=WAIT_MS)
            open_step(page, "4. Pool exhaustion")
            click(page, "Run Pool Exhaustion Demo")
            expect(page.get_by_text(re.compile(r"3 of 5 holders \("))).to_be_visible(
                timeout=WAIT_MS
            )
            settle(page)
            capture(page, "06-connectivity-pooling-experiment.png")

            # 3. Repository & N+1: three scores for Alex, per-row vs eager, then N users.
            open_section(page, "3. Repository Pattern & N+1")
            open_step(page, "2. Choose a user, add scores")
            click(page, "Add 3 Sample Scores for User")
            alex_id = rows[DEMO_USERS[0][0]]
            expect(
                page.get_by_text(f"3 sample scores added for Alex Smith (ID: {alex_id})")
            ).to_be_visible(timeout=WAIT_MS)
            open_step(page, "3. Per-row vs eager")
            click(page, "Fetch User & Scores (Per-row, N+1)")
            expect(page.get_by_text("SQL statements (per-row)")).to_be_visible(timeout=WAIT_MS)
            click(page, "Fetch User & Scores (Eager Loading)")
            expect(page.get_by_text("Both strategies loaded identical data: yes.")).to_be_visible()
            open_step(page, "4. N users")
            click(page, "Compare Per-row vs Eager for N Users")
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

            # Apply: an answer written in the editor, graded wrong with a hint, then right.
            open_step(page, "6. Apply: write it")
            page.get_by_text("Users with their scores, loaded eagerly", exact=True).click()
            settle(page)
            expect(page.get_by_text("Hint 1:")).to_have_count(0)
            check_answer(page, WRONG_ANSWER)
            expect(
                page.get_by_text(re.compile(r"Not yet: User\.scores was not loaded"))
            ).to_be_visible(timeout=RUN_MS)
            expect(page.get_by_text(re.compile("^Hint 1:"))).to_be_visible()
            capture(page, "08-apply-wrong-then-hint.png")
            check_answer(page, RIGHT_ANSWER)
            expect(
                page.get_by_text(re.compile(r"Correct: \d+ rows .* in 2 statements \(budget 2\)"))
            ).to_be_visible(timeout=RUN_MS)
            expect(page.get_by_text(re.compile("^Hint 1:"))).to_have_count(0)
            sidebar = page.locator('[data-testid="stSidebar"]')
            expect(sidebar).to_contain_text("Apply and Analyze: 1/4 (written 1/3", timeout=WAIT_MS)
            capture(page, "09-apply-right.png")

            # 4. Caching: the first fetch is a MISS, the second a HIT.
            open_section(page, "4. Caching with Redis")
            open_step(page, "2. Fetch through the cache")
            expect(page.get_by_text(f"User ID {alex_id}", exact=False).first).to_be_visible(
                timeout=WAIT_MS
            )
            click(page, "Fetch User (Cached) x20")
            expect(page.get_by_text("Cache MISS on the first fetch; 20 fetches")).to_be_visible(
                timeout=WAIT_MS
            )
            settle(page)
            click(page, "Fetch User (Cached) x20")
            expect(page.get_by_text("Cache HIT on the first fetch; 20 fetches")).to_be_visible(
                timeout=WAIT_MS
            )
            settle(page)
            open_step(page, "4. Measure")
            expect(main.locator("[data-testid='stMetric']", has_text="Cache hits")).to_contain_text(
                "39"
            )
            capture(page, "10-caching-miss-then-hit.png")

            # Analyze: predict, run the comparison, see the prediction graded from its table.
            open_step(page, "5. Compare strategies")
            predict(page, "most stale reads?", "ttl-only")
            predict(page, "load the database least", "write-through")
            predict(page, "the mean hit ratio", "rises")
            click(page, "Run the comparison")
            settle(page, RUN_MS)
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
            # Counted in the progress once all three are right.
            right = graded.filter(has_text=re.compile(r"^Right\.")).count()
            predicted = "1/1" if right == 3 else "0/1"
            expect(sidebar).to_contain_text(f"predicted {predicted})", timeout=WAIT_MS)
            capture(page, "11-caching-prediction-graded.png")

            # 5. Eventing: a score and its pending event, then one publishing pass.
            open_section(page, "5. Eventing (Outbox Pattern)")
            expect(page.locator('[data-testid="stGraphVizChart"] svg').first).to_be_visible(
                timeout=WAIT_MS
            )
            open_step(page, "2. Calculate and publish")
            click(page, "Calculate & Store AIRScore (Creates Pending Event)")
            stored = page.get_by_text(re.compile(f"DomainEvent \\(ID: {UUID}"))
            expect(stored).to_be_visible(timeout=WAIT_MS)
            settle(page)
            event_id = re.findall(UUID, stored.inner_text())[-1]
            assert _event_status(database_url, event_id) == "pending"
            open_step(page, "3. Event status")
            expect(page.get_by_text("Pending Events (Awaiting Publication)")).to_be_visible()
            capture(page, "12-eventing-pending.png")

            open_step(page, "2. Calculate and publish")
            click(page, "Publish pending now (one pass)")
            # Every claimed event published: on RabbitMQ the lab bound its queue first.
            success = page.locator("[data-testid='stAlertContentSuccess']")
            expect(
                success.filter(has_text=re.compile(r"One pass: (\d+) claimed, \1 published"))
            ).to_be_visible(timeout=WAIT_MS)
            settle(page)
            assert _event_status(database_url, event_id) == "published"
            open_step(page, "3. Event status")
            expect(page.get_by_text("No pending events.")).to_be_visible()
            if stack.rabbitmq:
                expect(
                    page.get_by_text(re.compile(r"\d+ messages? waiting in the lab's queue"))
                ).to_be_visible(timeout=WAIT_MS)
            capture(page, "13-eventing-published.png")

            # Lab mode: the lab's consumer receives the score's event from the broker.
            open_step(page, "4. Lab mode")
            page.get_by_text(guide("Lab mode: watch, consume, break it")).click()
            expect(page.get_by_text(re.compile("matches air_scores: yes"))).to_be_visible(
                timeout=WAIT_MS
            )
            delivered = page.locator("[data-testid='stDataFrame']").filter(has_text="received")
            expect(delivered.first).to_contain_text(event_id, timeout=WAIT_MS)
            capture(page, "14-eventing-consumed-by-the-lab.png")
            page.get_by_text(guide("Lab mode: watch, consume, break it")).click()
            settle(page)

            # A simulated broker outage: the pass fails, the event stays pending with its error.
            open_step(page, "2. Calculate and publish")
            page.get_by_text(guide("Simulate broker outage")).click()
            expect(page.get_by_text("outage on")).to_be_visible(timeout=WAIT_MS)
            settle(page)
            click(page, "Calculate & Store AIRScore (Creates Pending Event)")
            outage_event = page.get_by_text(re.compile(f"DomainEvent \\(ID: {UUID}"))
            expect(outage_event).to_be_visible(timeout=WAIT_MS)
            settle(page)
            during = re.findall(UUID, outage_event.inner_text())[-1]
            assert during != event_id
            click(page, "Publish pending now (one pass)")
            expect(page.get_by_text("The broker is unavailable")).to_be_visible(timeout=WAIT_MS)
            settle(page)
            # An outage, never a refusal by the broker (as when a reload mixed two copies of
            # BrokerUnavailable: the server runs without a file watcher).
            expect(page.get_by_text("The broker refused")).to_have_count(0)
            assert _event_status(database_url, during) == "pending"
            capture(page, "15-eventing-outage.png")
            page.get_by_text(guide("Simulate broker outage")).click()
            expect(page.get_by_text("outage off")).to_be_visible(timeout=WAIT_MS)
            settle(page)

            # The background publisher: started, it drains the backlog and publishes a new
            # score's event by itself.
            click(page, "Start Event Publisher (Background)")
            expect(page.get_by_text("publisher running")).to_be_visible(timeout=WAIT_MS)
            click(page, "Calculate & Store AIRScore (Creates Pending Event)")
            expect(page.get_by_text(re.compile(f"DomainEvent \\(ID: {UUID}"))).to_be_visible(
                timeout=WAIT_MS
            )
            settle(page)
            later = re.findall(
                UUID, page.get_by_text(re.compile(f"DomainEvent \\(ID: {UUID}")).inner_text()
            )[-1]
            assert later not in (event_id, during)
            wait_until(
                lambda: {_event_status(database_url, e) for e in (during, later)} == {"published"},
                "the background publisher to publish the backlog and the new event",
                timeout=WAIT_MS / 1000,
                interval=0.2,
            )
            open_step(page, "3. Event status")
            page.get_by_role("button", name="Refresh Event Status Now").click()
            settle(page)
            capture(page, "16-eventing-background-publisher.png")
            open_step(page, "2. Calculate and publish")
            page.get_by_role("button", name="Stop Event Publisher").click()
            expect(
                page.get_by_text("Event publisher stopped after its current batch")
            ).to_be_visible(timeout=WAIT_MS)
            expect(page.locator('[data-testid="stSidebar"]')).to_contain_text("publisher stopped")
            no_traceback(page)

            # Create: the event table designed over its steps, then graded beside QuLab's own.
            open_section(page, "Create: design an event table")
            expect(page.get_by_text("Design the outbox table yourself")).to_be_visible(
                timeout=WAIT_MS
            )
            open_step(page, "2. Indexes")
            expect(page.get_by_text("Index 1: columns, in order")).to_be_visible()
            open_step(page, "3. The relay's claim")
            expect(page.get_by_text("Batch size")).to_be_visible()
            open_step(page, "4. Grade")
            click(page, "Grade my design")
            settle(page, RUN_MS)
            grades = main.locator("[data-testid='stTable']")
            for measure, figures in (
                ("events published", r"320 of 320\s*320 of 320"),
                ("events lost", r"0\s*0"),
                ("events published twice", r"0\s*0"),
            ):
                row = grades.locator("tr").filter(has=page.get_by_text(measure, exact=True))
                expect(row).to_have_text(re.compile(f"{measure}\\s*{figures}"), timeout=RUN_MS)
            capture(page, "17-create-graded.png")
        finally:
            browser.close()
    assert "Traceback" not in log_path.read_text(), log_path.read_text()
