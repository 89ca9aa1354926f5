"""Which of a page's steps the learner has done, kept in ``lab_progress`` beside the knowledge
checks (one row per step, id ``step.<name>``), so a page opens on the first step not yet done.

A step is done when its action succeeded (the page records it); a step that only explains,
with no action of its own, counts as done once the learner has done a later one. The ids never
collide with the questions' or the activities', so no count includes them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from qulab.core import UnitOfWork, UnitOfWorkFactory
from qulab.lab.checks import LOCAL_LEARNER
from qulab.lab.progress import ProgressRepository

STEP_PREFIX = "step."
CHECK_STEP = "Knowledge check"  # the last step of every page


def step_id(step: str) -> str:
    return STEP_PREFIX + step


async def record_step(
    uow: UnitOfWorkFactory[UnitOfWork], page: str, step: str, learner: str = LOCAL_LEARNER
) -> None:
    """Record that ``learner`` did ``step`` of ``page`` (again: its count grows, it stays done)."""
    async with uow() as unit:
        await ProgressRepository(unit.session).record(learner, page, step_id(step), True)
        await unit.commit()


async def steps_done(
    uow: UnitOfWorkFactory[UnitOfWork], page: str, learner: str = LOCAL_LEARNER
) -> set[str]:
    """The names of the steps of ``page`` that ``learner`` has done."""
    async with uow() as unit:
        rows = await ProgressRepository(unit.session).list(learner)
        return {
            row.question_id.removeprefix(STEP_PREFIX)
            for row in rows
            if row.page == page and row.correct and row.question_id.startswith(STEP_PREFIX)
        }


def first_open(steps: Sequence[str], done: Collection[str], explains: Collection[str] = ()) -> int:
    """The step to open on arrival (0-based): step 1 until it is done, then the first step not
    yet done (step 1 again when every step is). A step that only explains (``explains``: it has
    no action of its own) counts as done once a later step is."""
    last = max((index for index, step in enumerate(steps) if step in done), default=-1)
    for index, step in enumerate(steps):
        passed = step in explains and index < last
        if step not in done and not passed:
            return index
    return 0
