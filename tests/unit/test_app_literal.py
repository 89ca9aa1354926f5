"""Data inside the lab's Markdown renders as its own characters and never as syntax."""

from __future__ import annotations

import html

import pytest

from qulab.core.errors import InvalidInput
from qulab.entrypoints.app.feedback import friendly_message
from qulab.entrypoints.app.literal import label, literal
from qulab.platform.errors import DuplicateEmailError
from tests.app.helpers import markdown_html

HOSTILE = [
    "[click](http://example.com)",
    "![x](http://e/x.png)",
    "**bold** _em_ `code` ~~gone~~",
    "<b>html</b> <http://auto.link> &amp;",
    ":red[x] :cake: :material/home: $x^2$",
    "# heading",
    "- item",
    "+ item",
    "* item",
    "> quote",
    "1984. a year",
    "2) second",
    "===",
    "a \\ b | c {d}",
    "Alex J. O'Neil-Smith, a+b@example.com",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_literal_renders_as_the_same_characters_in_one_paragraph(text: str) -> None:
    rendered = markdown_html(literal(text))
    escaped = html.escape(text, quote=False).replace('"', "&quot;")
    assert rendered == f"<p>{escaped}</p>\n"


@pytest.mark.parametrize("text", HOSTILE)
def test_literal_in_the_middle_of_a_sentence_forms_no_syntax(text: str) -> None:
    rendered = markdown_html(f"User **{literal(text)}** created.")
    assert "<a " not in rendered and "<img" not in rendered and "<em>" not in rendered
    assert rendered.count("<strong>") == 1 and "<code>" not in rendered


def test_ordinary_names_and_emails_keep_their_source_unchanged() -> None:
    for text in ("Alex J. Smith", "maria.lopez@example.com", "O'Neil-Smith (2nd)"):
        assert literal(text) == text


def test_control_characters_are_made_visible_in_markdown_and_labels() -> None:
    assert literal("abc\u202eevil\x1b[2J") == "abc\\\\u202eevil\\\\x1b\\[2J"
    assert markdown_html(literal("abc\u202eevil\x1b[2J")) == "<p>abc\\u202eevil\\x1b[2J</p>\n"
    assert label("abc\u202eevil\x1b") == "abc\\u202eevil\\x1b"


def test_a_user_supplied_value_in_an_error_shows_literally() -> None:
    problem = "'[x](http://e.co)' is not a valid UUID"
    message = friendly_message(InvalidInput("user_id", problem))
    assert markdown_html(message) == (
        "<p>Invalid user_id: '[x](http://e.co)' is not a valid UUID. Correct it and try again; "
        "nothing was written.</p>\n"
    )
    duplicate = markdown_html(friendly_message(DuplicateEmailError("**a**@example.com")))
    assert "<strong>" not in duplicate and "**a**@example.com" in duplicate
