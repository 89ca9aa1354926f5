"""The knowledge checks at the end of every page: a few questions, graded at once.

A right answer counts (stored in ``lab_progress`` through the unit of work); a wrong one shows
why. Questions are built from what the learner measured on the page when there is something
(``measured``), from fixed text otherwise. Before the database is initialised answers are graded
but not stored, and the page says so.
"""

from __future__ import annotations

import logging
from typing import Any

import streamlit as st

from qulab.core import Database
from qulab.entrypoints.app import runtime
from qulab.entrypoints.app.context import lab_context
from qulab.entrypoints.app.feedback import SCHEMA_CHECK_TIMEOUT, explain, progress_stored
from qulab.entrypoints.app.step_marks import mark_step
from qulab.lab import checks
from qulab.lab.activities import activity_progress
from qulab.lab.step_progress import CHECK_STEP
from qulab.platform import uow_factory

log = logging.getLogger(__name__)

CHECK_LABEL = "Check answer"
RESULT_PREFIX = "check_result:"

# Where the pages keep their latest results in the session (see the sections and views).
NPLUSONE_SCALING_KEY = "nplusone_scaling"
POOLING_RESULT_KEY = "pooling_result"
CACHE_HISTORY_KEY = "cache_fetches"


def measured(page: str, state: Any) -> dict[str, float]:
    """The numbers ``page`` has measured in this session (empty when nothing was run)."""
    found: dict[str, float] = {}
    if page == "repository":
        shown = state.get(NPLUSONE_SCALING_KEY)
        if isinstance(shown, tuple) and shown[0]:
            point = max(shown[0], key=lambda p: p.users)
            found["nplusone.users"] = point.users
            found["nplusone.per_row_statements"] = point.comparison.per_row.statement_count
            found["nplusone.eager_statements"] = point.comparison.eager.statement_count
    elif page == "connectivity":
        result = state.get(POOLING_RESULT_KEY)
        pooled = getattr(result, "pooled", None)
        null = getattr(result, "null_pool", None)
        if pooled is not None and null is not None:
            found["pooling.requests"] = pooled.requests
            found["pooling.pooled_connects"] = pooled.connects
            found["pooling.null_connects"] = null.connects
    elif page == "caching":
        history = state.get(CACHE_HISTORY_KEY) or []
        outcomes = [getattr(entry, "outcome", None) for entry in history]
        counted = [o for o in outcomes if o in ("HIT", "MISS")]
        if counted:
            found["cache.fetches"] = len(counted)
            found["cache.hits"] = counted.count("HIT")
    return found


def configuration(db: Database, broker_url: str | None) -> dict[str, float]:
    """The facts of the running configuration some answers depend on (SQLite, RabbitMQ)."""
    found: dict[str, float] = {}
    if db.dialect == "sqlite":
        found[checks.ON_SQLITE] = 1
    if (broker_url or "").startswith(("amqp://", "amqps://")):
        found[checks.ON_RABBITMQ] = 1
    return found


def _question(db: Database, asked: checks.Question, stored: bool, done: bool) -> bool:
    """Show one question and grade it when checked; True when it was checked in this run."""
    mark = " ✅" if done else ""
    st.markdown(f"**{asked.prompt}**{mark}")
    choice = st.radio(
        asked.prompt,
        asked.options,
        index=None,
        key=f"check:{asked.id}",
        label_visibility="collapsed",
    )
    result_key = RESULT_PREFIX + asked.id
    checked = st.button(CHECK_LABEL, key=f"check_button:{asked.id}", disabled=choice is None)
    if checked:
        if choice is None:  # pragma: no cover - the button is disabled then
            return False
        if stored:
            try:
                grade = runtime.run(checks.answer(uow_factory(db), asked, str(choice)))
            except Exception as error:
                st.error(explain(error, db), icon=":material/error:")
                return False
            st.session_state[result_key] = (grade.correct, str(choice), grade.attempts)
        else:
            st.session_state[result_key] = (checks.grade(asked, str(choice)), str(choice), 0)
    result = st.session_state.get(result_key)
    if result is None:
        return checked
    correct, chosen, _attempts = result
    if correct:
        st.success(f"Right: {asked.explanation}", icon=":material/check_circle:")
    else:
        st.error(f"Not quite (you chose “{chosen}”). {asked.explanation}", icon=":material/cancel:")
    return checked


def render_checks(page: str) -> None:
    """The knowledge checks of ``page``, at the end of the page."""
    context = lab_context()
    db = context.db
    facts = measured(page, st.session_state) | configuration(db, context.settings.broker.url)
    asked = checks.questions(page, facts)
    stored = progress_stored(db)
    done: dict[str, bool] = {}
    if stored:
        try:
            done = runtime.run(checks.answered(uow_factory(db)))
        except Exception:
            done = {}
    st.subheader("Knowledge check")
    summary = st.empty()
    checked = False
    for question in asked:
        with st.container(border=True):
            checked = _question(db, question, stored, done.get(question.id, False)) or checked
    if stored:
        try:
            done = runtime.run(checks.answered(uow_factory(db)))
        except Exception as error:
            log.warning("knowledge-check progress not read: %s", error)
        right = sum(1 for q in asked if done.get(q.id))
        if checked and right == len(asked):
            mark_step(page, CHECK_STEP)
        summary.caption(
            f"{right} of {len(asked)} answered correctly. Your progress is kept in the database "
            "(table lab_progress) and shown in the sidebar."
        )
    else:
        summary.caption(
            "Answers are graded but not kept until the database is initialised on page 2."
        )


PAGE_TITLES = {
    "introduction": "Introduction",
    "data_models": "1. Data Models",
    "connectivity": "2. Pooling",
    "repository": "3. Repository & N+1",
    "caching": "4. Caching",
    "eventing": "5. Outbox",
    "design": "Create: event table",
}


def progress_lines(db: Database) -> list[str]:
    """The sidebar's progress: the knowledge checks' total, the Apply and Analyze activities
    done, then one line per page of knowledge checks (empty when not stored)."""
    if not progress_stored(db):
        return []
    try:
        summary = runtime.run(checks.progress(uow_factory(db)), timeout=SCHEMA_CHECK_TIMEOUT)
        done = runtime.run(activity_progress(uow_factory(db)), timeout=SCHEMA_CHECK_TIMEOUT)
    except Exception:
        return []
    lines = [
        f"**Knowledge checks:** {summary.correct}/{summary.total}",
        f"**Apply and Analyze:** {done.done}/{done.total} (written {done.applied}/"
        f"{done.apply_total}, predicted {done.analyzed}/{done.analyze_total})",
    ]
    lines += [
        f"- {PAGE_TITLES.get(page.page, page.page)}: {page.correct}/{page.total}"
        for page in summary.pages
    ]
    return lines
