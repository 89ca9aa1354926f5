"""The guide's outbox steps on PostgreSQL + Redis + RabbitMQ in headless Chromium.

Initialise on page 2; on page 5 "Calculate", then "Publish pending now": the lab binds the
queue its consumer reads before publishing, so every event is routed (the pass is green, the
queue holds the messages), and with lab mode on the lab's consumer receives the score's event
and the projection matches. The RabbitMQ knowledge check asks about unroutable events. The
exchange and queue are this test's own, removed afterwards. Screenshots go to
test-output/browser-rabbitmq/.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import aio_pika

from qulab.core.consumers import queue_name
from qulab.entrypoints.app.projection_control import LAB_GROUP
from tests import services
from tests.e2e.server import ROOT, lab_environment, running, streamlit_run
from tests.e2e.steps import open_step
from tests.e2e.test_browser import CHROMIUM_ARGS, UUID, WAIT_MS, _event_status

SCREENSHOTS = ROOT / "test-output" / "browser-rabbitmq"


async def _delete_exchange(url: str, exchange: str) -> None:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        await channel.queue_delete(queue_name(exchange, LAB_GROUP))
        await channel.exchange_delete(exchange)
    finally:
        await connection.close()


def test_the_outbox_steps_publish_to_rabbitmq_and_reach_the_labs_consumer(
    chromium: Path, tmp_path: Path, fresh_pg_url: str, redis_url: str, amqp_url: str
) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    exchange = services.unique_name("qulab_e2e_exchange")
    prefix = services.unique_name("qulab_e2e_rabbit") + ":"
    env = lab_environment(fresh_pg_url) | {
        "QULAB_REDIS_URL": redis_url,
        "QULAB_CACHE_PREFIX": prefix,
        "QULAB_BROKER_URL": amqp_url,
        "QULAB_OUTBOX_EXCHANGE": exchange,
    }
    port = services.free_port()

    def open_section(page: Page, title: str) -> None:
        page.locator('[data-testid="stSidebarNav"] a', has_text=title).click()
        expect(page.locator('[data-testid="stSidebarNav"] a[aria-current="page"]')).to_contain_text(
            title, timeout=WAIT_MS
        )

    try:
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

                open_section(page, "5. Eventing (Outbox Pattern)")
                open_step(page, "2. Calculate and publish")
                expect(
                    page.get_by_text(re.compile("declares the queue its own consumer"))
                ).to_be_visible(timeout=WAIT_MS)
                page.get_by_role("button", name="Calculate & Store AIRScore").click()
                stored = page.get_by_text(re.compile(f"DomainEvent \\(ID: {UUID}"))
                expect(stored).to_be_visible(timeout=WAIT_MS)
                event_id = re.findall(UUID, stored.inner_text())[-1]

                page.get_by_role("button", name="Publish pending now (one pass)").click()
                success = page.locator("[data-testid='stAlertContentSuccess']")
                expect(success.filter(has_text="One pass: 3 claimed, 3 published")).to_be_visible(
                    timeout=WAIT_MS
                )
                assert _event_status(fresh_pg_url, event_id) == "published"
                open_step(page, "3. Event status")
                expect(
                    page.get_by_text(re.compile(r"3 messages waiting in the lab's queue"))
                ).to_be_visible(timeout=WAIT_MS)
                page.screenshot(path=SCREENSHOTS / "01-published-to-rabbitmq.png", full_page=True)

                open_step(page, "4. Lab mode")
                page.get_by_text("Lab mode: watch, consume, break it").click()
                expect(page.get_by_text(re.compile("matches air_scores: yes"))).to_be_visible(
                    timeout=WAIT_MS
                )
                delivered = page.locator("[data-testid='stDataFrame']").filter(has_text="received")
                expect(delivered.first).to_be_visible(timeout=WAIT_MS)
                page.screenshot(path=SCREENSHOTS / "02-consumed-by-the-lab.png", full_page=True)
                open_step(page, "5. Knowledge check")
                expect(page.get_by_text(re.compile("Your broker is RabbitMQ")).first).to_be_visible(
                    timeout=WAIT_MS
                )
            finally:
                browser.close()
    finally:
        asyncio.run(_delete_exchange(amqp_url, exchange))
        asyncio.run(services.delete_redis_prefix(prefix, redis_url))
