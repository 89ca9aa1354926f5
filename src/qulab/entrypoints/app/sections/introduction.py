"""Introduction: who Alex is, what the lab sets out to do, and how the pieces fit together."""

from __future__ import annotations

import streamlit as st

from qulab.core import Settings
from qulab.entrypoints.app.checks_view import render_checks
from qulab.entrypoints.app.context import lab_context
from qulab.entrypoints.app.diagrams import architecture_dot
from qulab.entrypoints.app.steps import CHECK_STEP, lab_steps

STEPS = ("The story", "Architecture", CHECK_STEP)
PAGE = "introduction"
EXPLAINS = ("The story", "Architecture")  # steps with no action of their own

# Each objective, and where in the lab a learner practises it.
OBJECTIVES = (
    (
        "Remember",
        "list SQLAlchemy relationship types and Redis data structures.",
        "page 1 (relationship types and their DDL), page 4 (what is in Redis)",
    ),
    (
        "Understand",
        "explain async database patterns and connection pooling.",
        "page 2 (the pooling experiment, the pool moving while it runs)",
    ),
    (
        "Apply",
        "implement the repository pattern with SQLAlchemy 2.0.",
        "page 3 (each repository method beside its SQL; write the query or the method yourself)",
    ),
    (
        "Analyze",
        "compare caching strategies for different access patterns.",
        "page 4 (caching strategies side by side on your own workload)",
    ),
    (
        "Create",
        "design event tables for a publish/subscribe architecture.",
        "the Create page (design an event table, graded beside the reference)",
    ),
)

TOOLS = (
    ("PostgreSQL", "the production database: ACID transactions, JSON columns, row locking."),
    ("SQLite", "the zero-setup default, a single file; the same code runs on both."),
    ("SQLAlchemy 2.0", "typed declarative models and an async ORM."),
    ("Alembic", "versioned schema migrations."),
    ("asyncpg / aiosqlite", "the async database drivers."),
    ("Redis", "read-through cache and event streams."),
    ("RabbitMQ", "an alternative message broker for the outbox relay."),
)

CONCEPTS = (
    "Async database sessions whose context manager commits or rolls back",
    "The repository pattern: data access behind named methods",
    "Connection pooling for throughput under concurrent requests",
    "The N+1 query problem, counted statement by statement, and eager loading",
    "Read-through caching with invalidation after commit",
    "Event tables and the transactional outbox for reliable publishing",
)


def render() -> None:
    context = lab_context()
    st.title("Data Architecture & Persistence for InnovateAI Solutions")
    st.header("Scaling the AI backend's data layer", divider="gray")
    story, architecture, check = lab_steps(STEPS, page=PAGE, explains=EXPLAINS)
    with story:
        _story()
    with architecture:
        _architecture(context.settings)
    with check:
        render_checks(PAGE)


def _story() -> None:
    st.markdown(
        "**Persona.** You are Alex, a senior software engineer at **InnovateAI Solutions**, "
        "which builds an AI-powered assessment platform: people measure their readiness for AI "
        "work and get recommendations on what to learn next."
    )
    st.markdown(
        "**The challenge.** The platform is growing. Its data layer has to store users, "
        "assessment sessions and AI-R scores reliably, serve the hot reads fast, cope with many "
        "concurrent requests, and tell other services what happened without ever losing an "
        "event. Every page of this lab runs one of those patterns against a real database and "
        "shows what it measured: statement counts, pool usage, cache hits, event states."
    )

    left, right = st.columns(2)
    with left:
        st.subheader("Key objectives")
        st.markdown(
            "\n".join(
                f"- **{verb}**: {text} *Do it on {where}.*" for verb, text, where in OBJECTIVES
            )
        )
        st.caption("Every page ends with a knowledge check; the sidebar keeps your progress.")
        st.subheader("Key concepts")
        st.markdown("\n".join(f"- {concept}" for concept in CONCEPTS))
    with right:
        st.subheader("Tools")
        st.markdown("\n".join(f"- **{name}**: {text}" for name, text in TOOLS))

    st.info(
        "Work through the pages in the sidebar in order, each one step by step. Page 2 creates "
        "the tables and the sample users the later pages use.",
        icon=":material/arrow_back:",
    )


def _architecture(settings: Settings) -> None:
    st.subheader("Architecture")
    st.caption(
        "Drawn from the running configuration: entry points call the lab scenarios, which use "
        "the services and adapters on top of the core; the bottom row is what the current "
        "configuration points at."
    )
    st.graphviz_chart(architecture_dot(settings), width="stretch")


if __name__ == "__main__":
    render()
