"""1. Data Models: the models as written in the code, their ER diagram, and a real insert."""

from __future__ import annotations

import inspect

import streamlit as st

from qulab.core import DomainEvent, TimestampMixin
from qulab.entrypoints.app.checks_view import render_checks
from qulab.entrypoints.app.context import LabContext, lab_context
from qulab.entrypoints.app.demo_data_view import demo_users_caption, render_demo_data
from qulab.entrypoints.app.diagrams import er_dot
from qulab.entrypoints.app.feedback import attempt, require_schema
from qulab.entrypoints.app.literal import literal
from qulab.entrypoints.app.relationships_view import render_relationships
from qulab.entrypoints.app.state import CREATED_USER_ID, remember_created
from qulab.entrypoints.app.step_marks import mark_step
from qulab.entrypoints.app.steps import CHECK_STEP, lab_steps
from qulab.platform import (
    METADATA,
    AIRScore,
    Assessment,
    User,
    UserCreate,
    create_user,
    find_user,
    parse,
    uow_factory,
    user_count,
)

MODEL_CLASSES: tuple[tuple[type, str], ...] = (
    (User, "profiles; owns assessments and scores (deleted with the user)."),
    (Assessment, "one assessment session of a user."),
    (AIRScore, "an AI-readiness score with its components and confidence interval."),
    (DomainEvent, "the outbox: events written in the same transaction as the change."),
    (TimestampMixin, "created/updated timestamps, timezone-aware UTC."),
)

CREATE_LABEL = "Create User"


def _intro() -> None:
    st.markdown(
        "Alex starts with the data itself: user profiles, assessment sessions, the AI-R scores "
        "the platform computes, and a table of domain events. The models use SQLAlchemy 2.0's "
        "typed declarative mapping (`Mapped[...]`, `mapped_column`), so the type checker and "
        "the database agree on every column."
    )
    st.markdown(
        "A relationship is a join waiting to happen. All assessments of the users, for "
        "example, are the projection of a join on the foreign key:"
    )
    st.latex(
        r"\pi_{\text{Assessment.*}}\left(\text{Users} \bowtie_{\text{Users.id} = "
        r"\text{Assessments.user\_id}} \text{Assessments}\right)"
    )
    st.markdown(
        "where $\\pi$ is projection and $\\bowtie$ a join. Relationships let the code say "
        '`user.scores` instead, and here they are declared `lazy="raise_on_sql"`: a '
        "collection that was not loaded on purpose raises instead of silently running one "
        "query per row."
    )


def _model_sources() -> None:
    st.subheader("The models, as written in the code")
    st.caption(
        f"Read live from `{inspect.getsourcefile(User)}` and, for the outbox table the core "
        f"provides, `{inspect.getsourcefile(DomainEvent)}`."
    )
    tabs = st.tabs([cls.__name__ for cls, _ in MODEL_CLASSES])
    for tab, (cls, summary) in zip(tabs, MODEL_CLASSES, strict=True):
        with tab:
            st.markdown(f"**{cls.__name__}**: {summary}")
            st.code(inspect.getsource(cls), language="python")


def _er_diagram() -> None:
    st.subheader("Entity-relationship diagram")
    st.caption(
        "Generated from the metadata (the core's tables and the platform's `Base.metadata`): "
        "PK primary key, FK foreign key, UQ unique, IX indexed, "
        "NULL nullable."
    )
    st.graphviz_chart(er_dot(*METADATA), width="stretch")


def _create_user_form(context: LabContext) -> None:
    db = context.db
    st.subheader("Create a new user")
    st.markdown(
        "The form goes through the same service the CLI uses: input is validated first, the "
        "user and a `user.created` event are written in one transaction, and the unique index "
        "on `email` rejects duplicates. A rejected input writes nothing."
    )
    if not require_schema(db):
        return
    with st.form("create_user_form"):
        email = st.text_input(
            "Email", placeholder="e.g. maria.lopez@innovateai.com", key="new_user_email"
        )
        name = st.text_input("Name", placeholder="e.g. Maria Lopez", key="new_user_name")
        left, middle, right = st.columns(3)
        occupation = left.text_input(
            "Occupation code (optional)", placeholder="e.g. SW_ENG", key="new_user_occupation"
        )
        education = middle.text_input(
            "Education level (optional)", placeholder="e.g. Masters", key="new_user_education"
        )
        years = right.text_input(
            "Years of experience (optional)", placeholder="e.g. 3.5", key="new_user_years"
        )
        submitted = st.form_submit_button(CREATE_LABEL, type="primary", key="create_user_submit")
    if submitted:
        created = attempt(
            db,
            lambda: create_user(
                parse(
                    UserCreate,
                    email=email,
                    name=name,
                    occupation_code=occupation,
                    education_level=education,
                    years_experience=years.strip() or None,
                ),
                uow_factory(db),
            ),
        )
        if created is not None:
            remember_created(st.session_state, created.id)
            mark_step(PAGE, "Create a user")
            st.success(
                f"User '{literal(created.name)}' created with ID: {created.id}",
                icon=":material/check_circle:",
            )
    count = attempt(db, lambda: user_count(db))
    if count is not None:
        st.metric("Users in the database", count)
        demo_users_caption(db, count)
    _last_created(context)
    render_demo_data(db)


def _last_created(context: LabContext) -> None:
    user_id = st.session_state.get(CREATED_USER_ID)
    if not user_id:
        return
    db = context.db
    user = attempt(db, lambda: find_user(db, user_id))
    if user is None:
        st.caption(f"The last user created here ({user_id}) is no longer in the database.")
        return
    st.markdown(
        f"**Last created user:** {literal(user.name)} ({literal(user.email)}), ID `{user.id}`"
    )
    st.caption("The later sections offer this user in their user pickers.")


STEPS = ("The models", "ER diagram", "Create a user", "Relationships", CHECK_STEP)
PAGE = "data_models"
EXPLAINS = ("The models", "ER diagram", "Relationships")  # steps with no action of their own


def render() -> None:
    context = lab_context()
    st.title("1. Defining the core data schema with SQLAlchemy 2.0")
    models, diagram, create, relationships, check = lab_steps(STEPS, page=PAGE, explains=EXPLAINS)
    with models:
        _intro()
        _model_sources()
    with diagram:
        _er_diagram()
    with create:
        _create_user_form(context)
    with relationships:
        render_relationships()
    with check:
        render_checks(PAGE)


if __name__ == "__main__":
    render()
