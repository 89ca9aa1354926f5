"""Page 1: the models from the code, the ER diagram, and the Create User form."""

from __future__ import annotations

import inspect

import pytest
from streamlit.testing.v1 import AppTest

from qulab.core import models as core_models
from qulab.entrypoints.app.navigation import CONNECTIVITY, DATA_MODELS
from qulab.entrypoints.app.sections.connectivity import SETUP_LABEL
from qulab.platform import models
from tests.app.helpers import go_to, no_exception, open_runtime, texts, user_count, user_emails


def _initialise(at: AppTest) -> None:
    go_to(at, CONNECTIVITY)
    next(b for b in at.button if b.label == SETUP_LABEL).click().run()
    no_exception(at)
    go_to(at, DATA_MODELS)


def _submit(at: AppTest, **fields: str) -> AppTest:
    for name in ("email", "name", "occupation", "education", "years"):
        at.text_input(key=f"new_user_{name}").input(fields.get(name, ""))
    return at.button(key="create_user_submit").click().run()


def test_model_source_is_read_from_the_code(sqlite_url: str) -> None:
    at = go_to(open_runtime(), DATA_MODELS)
    no_exception(at)
    shown = [block.value.strip() for block in at.code]
    for cls in (models.User, models.Assessment, models.AIRScore, core_models.DomainEvent):
        assert inspect.getsource(cls).strip() in shown
    assert 'lazy="raise_on_sql"' in shown[0]


def test_er_diagram_is_generated_from_the_metadata(sqlite_url: str) -> None:
    at = go_to(open_runtime(), DATA_MODELS)
    spec = at.get("graphviz_chart")[0].proto.spec
    assert spec.startswith("digraph er {")
    for metadata in models.METADATA:
        for table in metadata.sorted_tables:
            assert f"  {table.name} [label=<" in spec
    assert "users:id_out:e -> air_scores:user_id:w" in spec
    assert "users:id_out:e -> assessments:user_id:w" in spec
    assert "ix_events_status_created (status, created_at)" in spec


def test_before_initialisation_the_form_is_replaced_by_a_pointer_to_page_2(
    sqlite_url: str,
) -> None:
    at = go_to(open_runtime(), DATA_MODELS)
    no_exception(at)
    assert texts(at.warning) == [
        "The database has no QuLab tables yet: initialise the database on page 2 "
        "(DB Connectivity & Pooling) first."
    ]
    assert at.get("page_link")[0].proto.page == CONNECTIVITY.url_path
    assert not at.text_input


def test_create_user_shows_the_new_id_and_remembers_it(lab_url: str) -> None:
    at = open_runtime()
    _initialise(at)
    assert at.metric[0].value == "2"

    _submit(
        at,
        email="Maria.Lopez@Example.com",
        name="Maria Lopez",
        occupation="DATA_ENG",
        education="Masters",
        years="3.5",
    )
    no_exception(at)
    rows = user_emails(lab_url)
    new_id = rows["maria.lopez@example.com"]
    assert texts(at.success) == [f"User 'Maria Lopez' created with ID: {new_id}"]
    assert at.session_state["created_user_id"] == new_id
    assert at.metric[0].value == "3"
    assert f"**Last created user:** Maria Lopez (maria.lopez@example.com), ID `{new_id}`" in (
        texts(at.markdown)
    )

    # The id is still there on the next page visit and after leaving and coming back.
    go_to(at, CONNECTIVITY)
    go_to(at, DATA_MODELS)
    assert at.session_state["created_user_id"] == new_id
    assert not at.success


def test_duplicate_email_is_rejected_and_nothing_is_written(lab_url: str) -> None:
    at = open_runtime()
    _initialise(at)
    _submit(at, email="sam@example.com", name="Sam")
    before = user_emails(lab_url)

    _submit(at, email="  SAM@example.com ", name="Another Sam")
    no_exception(at)
    assert texts(at.error) == [
        "A user with the email sam@example.com already exists. Emails are unique: use another "
        "one. Nothing was written."
    ]
    assert not at.success
    assert user_emails(lab_url) == before


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"email": "not-an-email", "name": "X"}, "Invalid email:"),
        ({"email": "", "name": "X"}, "Invalid email:"),
        ({"email": "ok@example.com", "name": "   "}, "Invalid name: must not be blank"),
        ({"email": "ok@example.com", "name": "X", "years": "abc"}, "Invalid years_experience:"),
        ({"email": "ok@example.com", "name": "X", "years": "-1"}, "Invalid years_experience:"),
        (
            {"email": "ok@example.com", "name": "X", "occupation": "O" * 21},
            "Invalid occupation_code:",
        ),
        (
            {"email": "ok@example.com", "name": "N" * 256},
            "Invalid name: String should have at most 255 characters",
        ),
    ],
)
def test_each_invalid_input_gets_a_clear_error_and_writes_nothing(
    sqlite_url: str, fields: dict[str, str], expected: str
) -> None:
    at = open_runtime()
    _initialise(at)
    _submit(at, **fields)
    no_exception(at)
    [error] = texts(at.error)
    assert error.startswith(expected), error
    assert error.endswith("Correct it and try again; nothing was written.")
    assert user_count(sqlite_url) == 2
    assert "created_user_id" not in at.session_state
