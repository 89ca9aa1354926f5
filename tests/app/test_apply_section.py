"""Page 3, Apply: a repository method beside its SQL, and the loading-strategy exercise."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from qulab.entrypoints.app.navigation import CONNECTIVITY, REPOSITORY
from qulab.entrypoints.app.sections.connectivity import SETUP_LABEL
from qulab.lab.loading import APPLY_MARKER
from qulab.platform.services import seeding
from tests.app.helpers import go_to, no_exception, open_runtime, query, texts, user_count


def _initialised() -> AppTest:
    at = go_to(open_runtime(), CONNECTIVITY)
    next(b for b in at.button if b.label == SETUP_LABEL).click().run()
    no_exception(at)
    return go_to(at, REPOSITORY)


def _metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: str(metric.value) for metric in at.metric}


def _run_page(at: AppTest, scores: str, assessments: str, users: int) -> AppTest:
    at.selectbox(key="apply_scores").select(scores)
    at.selectbox(key="apply_assessments").select(assessments)
    at.number_input(key="apply_users").set_value(users)
    at.button(key="apply_run").click().run()
    no_exception(at)
    return at


def test_a_method_shows_its_source_and_the_sql_it_sent_and_keeps_nothing(lab_url: str) -> None:
    at = _initialised()
    users_before = user_count(lab_url)
    at.selectbox(key="apply_method").select("UserRepository.delete")
    at.run()
    source = next(block.value for block in at.code if "async def delete(" in block.value)
    assert "row = await self._delete_row(ident)" in source  # the verb the core's base defines
    at.button(key="apply_run_method").click().run()
    no_exception(at)
    assert _metrics(at)["SQL statements (UserRepository.delete)"] in {"1", "2"}
    sql = next(block.value for block in at.code if "DELETE FROM users" in block.value)
    assert sql.count("DELETE FROM users") == 1
    assert "Rolled back: nothing was kept." in "\n".join(texts(at.caption))
    assert user_count(lab_url) == users_before


def test_selectinload_on_both_meets_the_budget(lab_url: str) -> None:
    at = _run_page(_initialised(), "selectinload", "selectinload", 8)
    metrics = _metrics(at)
    assert metrics["SQL statements"] == "3"
    assert metrics["Users on the page"] == "8"
    assert float(metrics["Median time (ms, 5 runs)"]) > 0
    [verdict] = [t for t in texts(at.success) if t.startswith("Within budget")]
    assert verdict.startswith("Within budget: 3 statements ≤ 3")
    page = next(df.value for df in at.dataframe if "latest assessment" in df.value.columns)
    assert len(page) == 8
    assert set(page["scores"]) == {3}
    assert set(page["latest assessment"]) == {"hr (in_progress)"}
    assert query(lab_url, lambda db: seeding.count_seeded(db, APPLY_MARKER)) == 8


def test_per_row_lazy_loads_exceed_the_budget(lab_url: str) -> None:
    at = _run_page(_initialised(), "lazyload", "selectinload", 8)
    assert _metrics(at)["SQL statements"] == str(1 + 8 + 1)
    [verdict] = [t for t in texts(at.warning) if t.startswith("Over budget")]
    assert verdict.startswith("Over budget: 10 statements > 3.")


def test_raise_on_a_needed_relationship_shows_its_message(lab_url: str) -> None:
    at = _run_page(_initialised(), "selectinload", "raise", 4)
    [error] = [t for t in texts(at.error) if t.startswith("The page stopped")]
    assert "'User.assessments' is not available due to lazy='raise'" in error
    assert "SQL statements" not in _metrics(at)
