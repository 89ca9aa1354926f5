"""The learner's steps on a page: which are done (read from ``lab_progress``) and marking one
done when its action succeeded. Before the database is initialised nothing is kept, and every
page opens on its step 1.

Marks are a side effect of an action that already succeeded and showed its result: a failure
to keep one is logged, never put in the way of that result.
"""

from __future__ import annotations

import logging

from qulab.entrypoints.app import runtime
from qulab.entrypoints.app.context import lab_context
from qulab.entrypoints.app.feedback import SCHEMA_CHECK_TIMEOUT, progress_stored
from qulab.lab.step_progress import record_step, steps_done
from qulab.platform import uow_factory

log = logging.getLogger(__name__)


def done_steps(page: str) -> set[str]:
    """The steps of ``page`` the learner has done (none while progress cannot be kept)."""
    db = lab_context().db
    if not progress_stored(db):
        return set()
    try:
        return runtime.run(steps_done(uow_factory(db), page), timeout=SCHEMA_CHECK_TIMEOUT)
    except Exception as error:
        log.warning("the steps done on %s were not read: %s", page, error)
        return set()


def mark_step(page: str, step: str) -> None:
    """Keep that the learner did ``step`` of ``page``."""
    db = lab_context().db
    if not progress_stored(db):
        return
    try:
        runtime.run(record_step(uow_factory(db), page, step), timeout=SCHEMA_CHECK_TIMEOUT)
    except Exception as error:
        log.warning("step %r of %s was not kept as done: %s", step, page, error)
