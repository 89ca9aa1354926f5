"""Opening one of a page's numbered steps (its tabs) in the browser."""

from __future__ import annotations

from typing import Any

STEP_WAIT_MS = 30_000


def open_step(page: Any, label: str) -> None:
    """Click the step tab ``label`` (e.g. ``"2. Set up the database"``); wait until it is open."""
    from playwright.sync_api import expect

    tab = page.get_by_role("tab", name=label, exact=True)
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true", timeout=STEP_WAIT_MS)
