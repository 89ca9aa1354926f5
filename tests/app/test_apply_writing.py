"""Page 3, Apply by writing: an answer typed in the editor is run in the sandbox and graded;
hints appear only after a wrong attempt, the model answer only after a right one; a right one
counts in the sidebar's progress."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from qulab.entrypoints.app.navigation import CONNECTIVITY, REPOSITORY
from qulab.entrypoints.app.sections.connectivity import SETUP_LABEL
from qulab.entrypoints.app.write_view import EXERCISE_PICKER
from qulab.lab.exercises import EAGER_SCORES
from tests.app.helpers import go_to, no_exception, open_runtime, texts, user_count

SOURCE_KEY = f"write_source_{EAGER_SCORES.key}"
FORM_KEY = f"write_form_{EAGER_SCORES.key}"
ACTIVITIES_NONE = "**Apply and Analyze:** 0/4 (written 0/3, predicted 0/1)"


def _at_eager_exercise() -> AppTest:
    at = go_to(open_runtime(), CONNECTIVITY)
    next(b for b in at.button if b.label == SETUP_LABEL).click().run()
    no_exception(at)
    at = go_to(at, REPOSITORY)
    at.radio(key=EXERCISE_PICKER).set_value(EAGER_SCORES.title).run()
    no_exception(at)
    return at


def _check(at: AppTest, source: str) -> AppTest:
    at.text_area(key=SOURCE_KEY).input(source)
    next(b for b in at.button if b.label == "Check My Answer").click().run(timeout=120)
    no_exception(at)
    return at


def _activity_line(at: AppTest) -> str:
    """The sidebar's count of Apply and Analyze activities done."""
    return next(line for line in texts(at.sidebar.markdown) if "Apply and Analyze" in line)


def _hints(at: AppTest) -> list[str]:
    return [text for text in texts(at.info) if text.startswith("Hint ")]


def test_a_wrong_answer_shows_why_then_a_hint_and_a_right_one_passes(sqlite_url: str) -> None:
    at = _at_eager_exercise()
    assert not _hints(at)  # no hint before any attempt

    at = _check(at, EAGER_SCORES.starter)  # seeds the exercise's users once
    users = user_count(sqlite_url)
    assert _activity_line(at) == ACTIVITIES_NONE
    [warning] = [t for t in texts(at.warning) if t.startswith("Not yet:")]
    assert "`User.scores` was not loaded by your statement" in warning
    assert _hints(at) == [f"Hint 1: {EAGER_SCORES.hints[0]}"]

    at = _check(at, "def query():\n    return ().__class__\n")
    [refusal] = [t for t in texts(at.error) if t.startswith("Refused:")]
    assert "`.__class__` is refused" in refusal
    assert len(_hints(at)) == 2

    at = _check(at, EAGER_SCORES.reference)
    [success] = [t for t in texts(at.success) if t.startswith("Correct:")]
    assert "in 2 statements (budget 2)" in success
    assert not _hints(at)
    assert user_count(sqlite_url) == users
    assert _activity_line(at) == "**Apply and Analyze:** 1/4 (written 1/3, predicted 0/1)"
