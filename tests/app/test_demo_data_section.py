"""Page 1: demo rows counted by marker, said apart from other users, and removed exactly."""

from __future__ import annotations

from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from qulab.core.db import Database
from qulab.entrypoints.app.demo_data import NPLUSONE_MARKER
from qulab.entrypoints.app.navigation import CONNECTIVITY, DATA_MODELS
from qulab.entrypoints.app.sections.connectivity import SETUP_LABEL
from qulab.lab.exercise_rows import APPLY_MARKER, ensure_exercise_rows
from qulab.platform.models import AIRScore, Assessment
from qulab.platform.services import seeding
from tests.app.helpers import go_to, no_exception, open_runtime, query, texts, user_emails


def _initialised() -> AppTest:
    at = go_to(open_runtime(), CONNECTIVITY)
    next(b for b in at.button if b.label == SETUP_LABEL).click().run()
    no_exception(at)
    return at


async def _seed(db: Database) -> None:
    await ensure_exercise_rows(db, 4)  # 4 users, 12 scores, 8 assessments
    await seeding.seed(db, 3, 2, marker=NPLUSONE_MARKER)  # 3 users, 6 scores
    await seeding.seed(db, 2, 1, marker="elsewhere")  # not the lab's: must stay


async def _counts(db: Database) -> tuple[int, int]:
    async with db.session() as session:
        scores = await session.scalar(select(func.count()).select_from(AIRScore))
        assessments = await session.scalar(select(func.count()).select_from(Assessment))
    return int(scores or 0), int(assessments or 0)


def test_demo_rows_are_counted_by_marker_and_removed_exactly(lab_url: str) -> None:
    at = _initialised()
    query(lab_url, _seed)
    others = {email for email in user_emails(lab_url) if "@lab" not in email}
    total = len(user_emails(lab_url))
    go_to(at, DATA_MODELS)
    no_exception(at)

    [caption] = [t for t in texts(at.caption) if t.startswith("Of these")]
    assert caption == (
        f"Of these {total} users, 7 are demo users the lab seeded (with 18 scores and 8 "
        f"assessments) and {total - 7} are not. See “Demo data” below."
    )
    table = next(df.value for df in at.dataframe if "marker" in df.value.columns)
    by_marker = table.set_index("marker")
    assert by_marker.loc[APPLY_MARKER, ["users", "scores", "assessments"]].tolist() == [4, 12, 8]
    assert by_marker.loc[NPLUSONE_MARKER, ["users", "scores", "assessments"]].tolist() == [3, 6, 0]

    scores_before, assessments_before = query(lab_url, _counts)
    at.button(key="remove_demo_data").click().run()
    no_exception(at)
    assert texts(at.success) == ["Removed 7 demo users with their 18 scores and 8 assessments."]
    assert set(user_emails(lab_url)) == others
    assert query(lab_url, _counts) == (scores_before - 18, assessments_before - 8)
    # Every count on the page is read after the removal.
    [caption] = [t for t in texts(at.caption) if t.startswith("Of these")]
    assert caption.startswith(f"Of these {total - 7} users, 0 are demo users")
    assert [m.value for m in at.metric if m.label == "Users in the database"] == [str(total - 7)]
    assert query(lab_url, lambda db: seeding.count_seeded(db, "elsewhere")) == 2
    assert "No demo rows at the moment." in texts(at.caption)
