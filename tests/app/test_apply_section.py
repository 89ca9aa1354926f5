"""Page 3, Apply: a repository method beside its SQL; the exercise is answered by writing
(test_apply_writing.py), and no dropdown-picked exercise is left beside it."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from qulab.entrypoints.app.navigation import CONNECTIVITY, REPOSITORY
from qulab.entrypoints.app.sections.connectivity import SETUP_LABEL
from tests.app.helpers import go_to, no_exception, open_runtime, texts, user_count


def _initialised() -> AppTest:
    at = go_to(open_runtime(), CONNECTIVITY)
    next(b for b in at.button if b.label == SETUP_LABEL).click().run()
    no_exception(at)
    return go_to(at, REPOSITORY)


def _metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: str(metric.value) for metric in at.metric}


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


def test_the_apply_step_asks_for_written_answers_only(lab_url: str) -> None:
    at = _initialised()
    picked = {selectbox.label for selectbox in at.selectbox}
    assert "Repository method" in picked
    assert not picked & {"User.scores", "User.assessments"}
    buttons = {button.label for button in at.button}
    assert "Check My Answer" in buttons and "Run the Page" not in buttons
    assert not [header for header in texts(at.subheader) if "statement budget" in header]
