"""Pages that guide: each page is a row of numbered steps (tabs), in the order a learner does
them, the first one open, and each step holding its own action; the knowledge check comes last.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from qulab.entrypoints.app.apply_view import RUN_METHOD_LABEL
from qulab.entrypoints.app.cache_burst_view import FETCH_USER_LABEL
from qulab.entrypoints.app.checks_view import CHECK_LABEL
from qulab.entrypoints.app.design_view import SUBMIT_LABEL
from qulab.entrypoints.app.navigation import (
    CACHING,
    CONNECTIVITY,
    DATA_MODELS,
    DESIGN,
    EVENTING,
    INTRODUCTION,
    REPOSITORY,
    PageSpec,
)
from qulab.entrypoints.app.orm_tax_view import RUN_LABEL as ORM_TAX_LABEL
from qulab.entrypoints.app.outbox_lab_view import LAB_MODE_LABEL
from qulab.entrypoints.app.pooling_view import EXHAUST_LABEL
from qulab.entrypoints.app.pooling_view import RUN_LABEL as POOLING_LABEL
from qulab.entrypoints.app.redis_view import SUBHEADER as REDIS_SUBHEADER
from qulab.entrypoints.app.relationships_view import SUBHEADER as RELATIONSHIPS_SUBHEADER
from qulab.entrypoints.app.sections import (
    caching,
    connectivity,
    data_models,
    design,
    eventing,
    introduction,
    repository,
)
from qulab.entrypoints.app.sections.connectivity import SETUP_LABEL
from qulab.entrypoints.app.steps import CHECK_STEP, step_labels
from qulab.entrypoints.app.strategies_view import RUN_LABEL as STRATEGIES_LABEL
from tests.app.helpers import ROOT, go_to, no_exception, open_runtime

# For each page: the steps in order, and what only the given step (0-based) shows.
BUTTON, SUBHEADER, TOGGLE, FORM_SUBMIT = "button", "subheader", "toggle", "form_submit"
PAGES: tuple[tuple[PageSpec, ModuleType, dict[int, tuple[str, str]]], ...] = (
    (INTRODUCTION, introduction, {1: (SUBHEADER, "Architecture")}),
    (
        DATA_MODELS,
        data_models,
        {
            2: (FORM_SUBMIT, data_models.CREATE_LABEL),
            3: (SUBHEADER, RELATIONSHIPS_SUBHEADER),
        },
    ),
    (
        CONNECTIVITY,
        connectivity,
        {0: (BUTTON, SETUP_LABEL), 2: (BUTTON, POOLING_LABEL), 3: (BUTTON, EXHAUST_LABEL)},
    ),
    (
        REPOSITORY,
        repository,
        {
            1: (BUTTON, repository.ADD_LABEL),
            2: (BUTTON, repository.PER_ROW_LABEL),
            3: (BUTTON, repository.SCALE_LABEL),
            4: (BUTTON, ORM_TAX_LABEL),
            5: (BUTTON, RUN_METHOD_LABEL),
        },
    ),
    (
        CACHING,
        caching,
        {
            1: (BUTTON, FETCH_USER_LABEL),
            2: (BUTTON, caching.INVALIDATE_LABEL),
            3: (BUTTON, caching.RESET_STATS_LABEL),
            4: (BUTTON, STRATEGIES_LABEL),
            5: (SUBHEADER, REDIS_SUBHEADER),
        },
    ),
    (
        EVENTING,
        eventing,
        {
            1: (BUTTON, eventing.CALCULATE_LABEL),
            2: (BUTTON, eventing.REFRESH_LABEL),
            3: (TOGGLE, LAB_MODE_LABEL),
        },
    ),
    (DESIGN, design, {3: (BUTTON, SUBMIT_LABEL)}),
)


def _initialised() -> AppTest:
    at = go_to(open_runtime(), CONNECTIVITY)
    next(b for b in at.button if b.label == SETUP_LABEL).click().run()
    no_exception(at)
    return at


def _step_tabs(at: AppTest, steps: Sequence[str]) -> list[Any]:
    labels = step_labels(steps)
    return [tab for tab in at.tabs if tab.label in labels]


def _labels(block: Any, kind: str) -> list[str]:
    if kind == SUBHEADER:
        return [str(element.value) for element in block.subheader]
    if kind == FORM_SUBMIT:
        return [str(element.label) for element in block.get("button")]
    return [str(element.label) for element in block.get(kind)]


@pytest.mark.parametrize(
    ("page", "module", "holds"), PAGES, ids=[page.url_path for page, _, _ in PAGES]
)
def test_each_page_leads_with_its_first_step_and_numbers_the_rest(
    sqlite_url: str, page: PageSpec, module: ModuleType, holds: dict[int, tuple[str, str]]
) -> None:
    at = go_to(_initialised(), page)
    no_exception(at)
    steps: Sequence[str] = module.STEPS
    tabs = _step_tabs(at, steps)
    assert [tab.label for tab in tabs] == [
        f"{number}. {name}" for number, name in enumerate(steps, start=1)
    ]
    assert steps[-1] == CHECK_STEP
    assert CHECK_LABEL in _labels(tabs[-1], BUTTON), "the knowledge check is the last step"
    for index, (kind, wanted) in holds.items():
        for other, tab in enumerate(tabs):
            found = wanted in _labels(tab, kind)
            assert found == (other == index), (
                f"{wanted!r} should be in step {index + 1} only, step {other + 1} has it: {found}"
            )


def test_on_a_fresh_database_the_first_open_step_is_the_set_up(sqlite_url: str) -> None:
    """On page 2 the step open on arrival is the set-up: its button is the first thing to do."""
    at = go_to(open_runtime(), CONNECTIVITY)
    no_exception(at)
    first = _step_tabs(at, connectivity.STEPS)[0]
    assert first.label == "1. Set up the database"
    assert first.button[0].label == SETUP_LABEL


def test_later_steps_say_which_step_comes_first_before_the_database_exists(
    sqlite_url: str,
) -> None:
    at = go_to(open_runtime(), REPOSITORY)
    no_exception(at)
    tabs = _step_tabs(at, repository.STEPS)
    for tab in tabs[2:6]:
        captions = [str(caption.value) for caption in tab.caption]
        assert "Do step 2 (Choose a user, add scores) first: this step uses what it makes." in (
            captions
        ), tab.label


def test_the_readme_lists_each_page_s_steps_in_their_order() -> None:
    lab = (ROOT / "README.md").read_text(encoding="utf-8").split("## The lab", 1)[1]
    listed = {
        title: re.findall(r"\*([^*]+)\*", steps.replace("\n  ", " "))
        for title, steps in re.findall(r"^- \*\*(.+?)\*\*: (.+?)$(?=\n- |\n\n)", lab, re.M | re.S)
    }
    for page, module, _ in PAGES:
        title = "Create" if page is DESIGN else page.title
        assert listed.get(title) == list(module.STEPS[:-1]), title
