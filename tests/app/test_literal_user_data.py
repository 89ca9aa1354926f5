"""User data is shown as text: a name written in Markdown shows its characters, never a link."""

from __future__ import annotations

from typing import Any

from streamlit.testing.v1 import AppTest

from qulab.core.db import Database
from qulab.entrypoints.app.navigation import CONNECTIVITY, DATA_MODELS, EVENTING, REPOSITORY
from qulab.entrypoints.app.sections.connectivity import SETUP_LABEL
from qulab.platform.models import User
from tests.app.helpers import go_to, markdown_html, no_exception, open_runtime, query, shown

NAME = "[click](http://example.com) ![x](http://e/x.png) **bold**"
EMAIL = "md@example.com"


def _markdown_elements(at: AppTest) -> list[Any]:
    """Every element whose body Streamlit renders as Markdown."""
    return [
        *at.markdown,
        *at.caption,
        *at.success,
        *at.info,
        *at.warning,
        *at.error,
    ]


def _assert_nothing_rendered_from_the_name(at: AppTest) -> None:
    for element in _markdown_elements(at):
        rendered = markdown_html(str(element.value))
        assert "<a " not in rendered, element.value
        assert "<img" not in rendered, element.value
        assert "<strong>bold</strong>" not in rendered, element.value


def _initialised() -> AppTest:
    at = go_to(open_runtime(), CONNECTIVITY)
    next(b for b in at.button if b.label == SETUP_LABEL).click().run()
    no_exception(at)
    return at


def test_a_name_written_in_markdown_is_shown_literally_on_every_page(sqlite_url: str) -> None:
    at = go_to(_initialised(), DATA_MODELS)
    at.text_input(key="new_user_email").input(EMAIL)
    at.text_input(key="new_user_name").input(NAME)
    at.button(key="create_user_submit").click().run()
    no_exception(at)
    new_id = at.session_state["created_user_id"]
    assert shown(at.success) == [f"User '{NAME}' created with ID: {new_id}"]
    assert f"Last created user: {NAME} ({EMAIL}), ID {new_id}" in shown(at.markdown)
    _assert_nothing_rendered_from_the_name(at)

    go_to(at, REPOSITORY)
    no_exception(at)
    choice = at.selectbox(key="nplusone_user")
    label = f"{NAME} (created on page 1)"
    assert label in choice.options
    choice.select(label).run()
    at.button(key="fetch_per_row").click().run()
    no_exception(at)
    assert any(text.startswith(f"{NAME} ({EMAIL}): 0 scores") for text in shown(at.markdown))
    at.button(key="add_scores").click().run()
    no_exception(at)
    assert shown(at.success) == [f"3 sample scores added for {NAME} (ID: {new_id})"]
    _assert_nothing_rendered_from_the_name(at)

    go_to(at, EVENTING)
    no_exception(at)
    assert f"{NAME} ({EMAIL})" in at.selectbox(key="eventing_user").options
    _assert_nothing_rendered_from_the_name(at)


def test_control_characters_in_a_stored_name_are_shown_as_escapes(sqlite_url: str) -> None:
    at = _initialised()

    async def _insert(db: Database) -> str:
        async with db.session_scope() as session:
            user = User(email="rtl@example.com", name="abc\u202eevil\x1b[2J")
            session.add(user)
        return user.id

    user_id = query(sqlite_url, _insert)
    at.session_state["created_user_id"] = user_id
    go_to(at, DATA_MODELS)
    no_exception(at)
    expected = f"Last created user: abc\\u202eevil\\x1b[2J (rtl@example.com), ID {user_id}"
    assert expected in shown(at.markdown)
    go_to(at, REPOSITORY)
    options = at.selectbox(key="nplusone_user").options
    assert "abc\\u202eevil\\x1b[2J (created on page 1)" in options
    for element in [*_markdown_elements(at), *at.selectbox]:
        assert "\u202e" not in str(element.value) and "\x1b" not in str(element.value)
