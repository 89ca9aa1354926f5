"""The data pages 2-4 work on: seeded request users, sample scores, the cache demo's user.

Plain async functions (no Streamlit) run on the app loop. Bulk data is seeded under a marker, so
it never mixes with the users a learner creates and can be removed with ``qulab seed --clear``.
"""

from __future__ import annotations

from dataclasses import dataclass

from qulab.core import Database
from qulab.lab import DEMO_USERS, Comparison, compare_all_users, create_sample_airscore
from qulab.lab.exercise_rows import APPLY_MARKER
from qulab.platform import (
    ScoreRead,
    UserRead,
    ensure_seeded,
    get_user,
    seeded_users,
    user_ids,
    user_with_latest_score,
    users_by_email,
)

POOL_MARKER = "labpool"
POOL_USERS = 20
POOL_SCORES = 3

NPLUSONE_MARKER = "labnplusone"
NPLUSONE_SCORES = 3

# Every marker the lab seeds under: what page 1 counts as demo rows and can remove.
LAB_MARKERS: tuple[str, ...] = (POOL_MARKER, NPLUSONE_MARKER, APPLY_MARKER)
# Bulk seeding records no events: the lab's markers and `qulab seed`'s default.
SEEDED_WITHOUT_EVENTS: tuple[str, ...] = (*LAB_MARKERS, "demo")

DEFAULT_OCCUPATION = "SW_ENG"
SAMPLE_SCORES = 3


async def pool_request_users(db: Database) -> list[str]:
    """The ids the pooling experiment's requests read (seeded under POOL_MARKER if absent)."""
    await ensure_seeded(db, POOL_USERS, POOL_SCORES, marker=POOL_MARKER)
    return await user_ids(db, POOL_USERS, where=seeded_users(POOL_MARKER))


async def demo_users(db: Database) -> dict[str, UserRead | None]:
    """Alex and Jane (by email, as created by the setup step), or None where absent."""
    return await users_by_email(db, [email for email, *_ in DEMO_USERS])


async def add_sample_scores(
    db: Database, user_id: str, count: int = SAMPLE_SCORES
) -> tuple[UserRead, list[ScoreRead]]:
    """``count`` sample scores for the user, each committed in its own unit of work."""
    user = await get_user(db, user_id)
    occupation = user.occupation_code or DEFAULT_OCCUPATION
    scores = [await create_sample_airscore(user.id, occupation, db=db) for _ in range(count)]
    return user, scores


@dataclass(frozen=True)
class ScalingPoint:
    """Per-row against eager over the first ``users`` seeded users."""

    users: int
    comparison: Comparison


async def nplusone_scaling(db: Database, sizes: list[int]) -> tuple[list[ScalingPoint], bool]:
    """Both strategies at each size, over users seeded under NPLUSONE_MARKER.

    The users are seeded (``max(sizes)`` of them, NPLUSONE_SCORES scores each) when fewer exist;
    returns the points and whether anything was seeded now.
    """
    largest = max(sizes)
    seeded = await ensure_seeded(db, largest, NPLUSONE_SCORES, marker=NPLUSONE_MARKER)
    where = seeded_users(NPLUSONE_MARKER)
    points = [ScalingPoint(size, await compare_all_users(db, size, where=where)) for size in sizes]
    return points, seeded


def scaling_sizes(largest: int) -> list[int]:
    """A few sizes up to ``largest``: 1, a quarter, a half and all of it (deduplicated)."""
    candidates = {1, largest // 4, largest // 2, (3 * largest) // 4, largest}
    return sorted(size for size in candidates if size >= 1)


@dataclass(frozen=True)
class CacheDemo:
    """The cache page's subject: Alex and his latest score (None until one is added)."""

    user: UserRead
    latest_score: ScoreRead | None


async def prepare_cache_demo(db: Database) -> CacheDemo | None:
    """Alex with his latest score, or None when the sample users do not exist yet. Only reads:
    opening the page changes nothing."""
    found = await user_with_latest_score(db, DEMO_USERS[0][0])
    if found is None:
        return None
    return CacheDemo(found.user, found.latest_score)


async def add_demo_score(db: Database, demo: CacheDemo) -> CacheDemo:
    """Give Alex a sample score (the page's button, when he has none)."""
    user = demo.user
    created = await create_sample_airscore(
        user.id, user.occupation_code or DEFAULT_OCCUPATION, db=db
    )
    return CacheDemo(user, created)
