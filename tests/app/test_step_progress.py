"""Pages that follow the learner: once step 1 is done, arriving at a page opens the first step
not yet done; while the learner stays, the open step stays; the progress outlives the session."""

from __future__ import annotations

from typing import Any

from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block

from qulab.entrypoints.app.navigation import CACHING, CONNECTIVITY, INTRODUCTION, PageSpec
from qulab.entrypoints.app.sections import caching, connectivity
from qulab.entrypoints.app.sections.connectivity import SETUP_LABEL
from qulab.entrypoints.app.steps import step_labels
from tests.app.helpers import go_to, no_exception, open_runtime


def _tab_container(node: Any) -> Block | None:
    proto = node.proto if isinstance(node, Block) else None
    if proto is not None and proto.WhichOneof("type") == "tab_container":
        block: Block = node
        return block
    for child in getattr(node, "children", {}).values():
        found = _tab_container(child)
        if found is not None:
            return found
    return None


def _opened(at: AppTest, steps: tuple[str, ...]) -> str:
    """The label of the step the page opens (the tab the browser shows first)."""
    container = _tab_container(at.main)
    assert container is not None, "the page shows no steps"
    index = int(container.proto.tab_container.default_tab_index)
    return step_labels(steps)[index]


def _arrive(at: AppTest, page: PageSpec) -> AppTest:
    """Arrive at ``page`` from another page, as a learner following the sidebar does."""
    at = go_to(go_to(at, INTRODUCTION), page)
    no_exception(at)
    return at


def test_page_two_opens_on_the_set_up_until_it_is_done_then_on_the_next_step(
    sqlite_url: str,
) -> None:
    at = _arrive(open_runtime(), CONNECTIVITY)
    assert _opened(at, connectivity.STEPS) == "1. Set up the database"
    at = _arrive(at, CONNECTIVITY)
    assert _opened(at, connectivity.STEPS) == "1. Set up the database"

    next(b for b in at.button if b.label == SETUP_LABEL).click().run()
    no_exception(at)
    # Still on the page: the set-up step stays open beside its result.
    assert _opened(at, connectivity.STEPS) == "1. Set up the database"

    at = _arrive(at, CONNECTIVITY)
    assert _opened(at, connectivity.STEPS) == "2. The pool, live"
    # A new session (another tab, a restart) reads the same progress from the database.
    assert _opened(_arrive(open_runtime(), CONNECTIVITY), connectivity.STEPS) == (
        "2. The pool, live"
    )


def test_a_step_done_on_a_page_moves_its_arrival_past_the_steps_that_only_explain(
    sqlite_url: str,
) -> None:
    at = _arrive(open_runtime(), CONNECTIVITY)
    next(b for b in at.button if b.label == SETUP_LABEL).click().run()
    at = _arrive(at, CACHING)
    assert _opened(at, caching.STEPS) == "1. The idea"

    at.button(key="fetch_user_cached").click().run()
    no_exception(at)
    assert _opened(at, caching.STEPS) == "1. The idea"  # the burst's result stays in view

    at = _arrive(at, CACHING)
    assert _opened(at, caching.STEPS) == "3. Invalidate"
