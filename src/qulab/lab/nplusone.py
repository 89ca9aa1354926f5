"""N+1 against eager loading, counted: the same users and scores loaded two ways.

The per-row strategy loads the users with one statement and then each user's scores with one
statement per user, on purpose (relationships raise on implicit loads, so nothing happens by
accident). The eager strategy is ``get_all_users_with_scores_eager`` (``selectinload``): two
statements up to 500 users (SQLAlchemy sends the parent keys in IN batches of 500, so one more
statement per further 500 users). Statements are counted on the session's own connection, so
other work on the same engine never changes the numbers.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from qulab.core import Database, InvalidInput, NotFound, count_session_statements, validate_id
from qulab.platform import (
    AIRScore,
    ScoreRead,
    ScoreRepository,
    User,
    UserRead,
    UserRepository,
    UserWithScores,
    users_statement,
)

PER_ROW = "per-row"
EAGER = "eager"
SELECTIN_BATCH = 500  # parent keys per IN (...) statement in SQLAlchemy's selectinload
SINGLE_REPEATS = 7  # measured runs per strategy on one user, after one warm-up run each

Rows = list[tuple[User, Sequence[AIRScore]]]
Loaded = tuple[Rows, int]
Loader = Callable[[AsyncSession], Awaitable[Loaded]]


@dataclass(frozen=True)
class StrategyRun:
    """One strategy's run: what it sent to the database, how long it took, what it loaded.

    ``queries_issued`` is what the strategy itself says it ran; ``statement_count`` is what the
    connection saw. They agree unless something ran SQL behind the strategy's back.
    """

    strategy: str
    statement_count: int
    statements: tuple[str, ...]
    queries_issued: int
    elapsed_s: float
    data: tuple[UserWithScores, ...]
    times_s: tuple[float, ...] = ()

    @property
    def spread_s(self) -> tuple[float, float]:
        """Fastest and slowest of the measured runs (the one run when not repeated)."""
        times = self.times_s or (self.elapsed_s,)
        return min(times), max(times)

    @property
    def users(self) -> int:
        return len(self.data)

    @property
    def scores(self) -> int:
        return sum(len(item.scores) for item in self.data)


@dataclass(frozen=True)
class Comparison:
    """Both strategies over the same rows, and whether they loaded the same data."""

    database: str
    per_row: StrategyRun
    eager: StrategyRun

    @property
    def identical(self) -> bool:
        return self.per_row.data == self.eager.data

    @property
    def statement_ratio(self) -> float:
        return self.per_row.statement_count / max(self.eager.statement_count, 1)

    @property
    def time_ratio(self) -> float:
        return self.per_row.elapsed_s / self.eager.elapsed_s if self.eager.elapsed_s else 0.0


def _read(user: User, scores: Sequence[AIRScore]) -> UserWithScores:
    ordered = sorted(scores, key=lambda score: (score.created_at, score.id))
    return UserWithScores(
        user=UserRead.model_validate(user),
        scores=[ScoreRead.model_validate(score) for score in ordered],
    )


def _check_limit(limit: int | None) -> None:
    if limit is not None and limit < 0:
        raise InvalidInput("users", "must be 0 or more")


async def load_per_row(
    session: AsyncSession, limit: int | None = None, *, where: ColumnElement[bool] | None = None
) -> Loaded:
    """Users with one statement, then one statement per user for their scores.

    Returns the users with their scores and the number of queries issued (1 + users).
    """
    _check_limit(limit)
    users = (await session.execute(users_statement(limit, where=where))).scalars().all()
    scores = ScoreRepository(session)
    return [(user, await scores.list(user.id)) for user in users], 1 + len(users)


def eager_queries(users: int) -> int:
    """Statements ``selectinload`` needs: the users, then one per batch of 500 users' keys."""
    return 1 + -(-users // SELECTIN_BATCH)


async def load_eager(
    session: AsyncSession, limit: int | None = None, *, where: ColumnElement[bool] | None = None
) -> Loaded:
    """The same users and scores through ``get_all_users_with_scores_eager``."""
    _check_limit(limit)
    users = await UserRepository(session).get_all_users_with_scores_eager(limit, where=where)
    return [(user, user.scores) for user in users], eager_queries(len(users))


async def run_strategy(db: Database, strategy: str, loader: Loader) -> StrategyRun:
    """Run ``loader`` in a fresh session (empty identity map), counting its own statements.

    The time covers the loader only (queries and ORM objects): the connection is checked out
    before the clock starts and the read models are built after it stops.
    """
    async with db.session() as session, count_session_statements(session) as counter:
        start = time.perf_counter()
        rows, issued = await loader(session)
        elapsed = time.perf_counter() - start
        data = [_read(user, scores) for user, scores in rows]
    return StrategyRun(
        strategy=strategy,
        statement_count=counter.count,
        statements=tuple(counter.statements),
        queries_issued=issued,
        elapsed_s=elapsed,
        data=tuple(data),
    )


async def run_per_row(
    db: Database, limit: int | None = None, *, where: ColumnElement[bool] | None = None
) -> StrategyRun:
    return await run_strategy(
        db, PER_ROW, lambda session: load_per_row(session, limit, where=where)
    )


async def run_eager(
    db: Database, limit: int | None = None, *, where: ColumnElement[bool] | None = None
) -> StrategyRun:
    return await run_strategy(db, EAGER, lambda session: load_eager(session, limit, where=where))


async def compare_all_users(
    db: Database, limit: int | None = None, *, where: ColumnElement[bool] | None = None
) -> Comparison:
    """Per-row and eager over the same ``limit`` users (oldest first, optionally filtered)."""
    return Comparison(
        database=db.description,
        per_row=await run_per_row(db, limit, where=where),
        eager=await run_eager(db, limit, where=where),
    )


async def _single_per_row(session: AsyncSession, user_id: str) -> Loaded:
    user = await UserRepository(session).get_one_or_none(user_id)
    if user is None:
        raise NotFound("user", user_id)
    scores = await ScoreRepository(session).list(user_id)
    return [(user, scores)], 2


async def _single_eager(session: AsyncSession, user_id: str) -> Loaded:
    user = await UserRepository(session).get_user_with_scores_eager(user_id)
    if user is None:
        raise NotFound("user", user_id)
    return [(user, user.scores)], eager_queries(1)


async def fetch_single_user(db: Database, user_id: str, strategy: str) -> StrategyRun:
    """One user and their scores by one strategy: ``get_by_id`` + a score query (per-row) or
    ``get_user_with_scores_eager``."""
    user_id = validate_id(user_id, "user_id")
    single = _single_per_row if strategy == PER_ROW else _single_eager
    if strategy not in (PER_ROW, EAGER):
        raise ValueError(f"unknown strategy {strategy!r}")
    return await run_strategy(db, strategy, lambda s: single(s, user_id))


def _summarised(runs: list[StrategyRun]) -> StrategyRun:
    """The last run, timed as the median of all of them (every run sends the same SQL)."""
    times = tuple(run.elapsed_s for run in runs)
    return replace(runs[-1], elapsed_s=statistics.median(times), times_s=times)


async def measure_single_users(
    db: Database,
    user_id: str,
    strategies: Sequence[str] = (PER_ROW, EAGER),
    repeats: int = SINGLE_REPEATS,
) -> dict[str, StrategyRun]:
    """Each strategy on one user: one warm-up run each (not measured), then ``repeats`` rounds
    taking the strategies in turn, so no strategy is measured cold against a warm other.
    Each result is timed as the median of its runs, with every run's time in ``times_s``."""
    if repeats < 1:
        raise InvalidInput("repeats", "must be 1 or more")
    for strategy in strategies:
        await fetch_single_user(db, user_id, strategy)
    runs: dict[str, list[StrategyRun]] = {strategy: [] for strategy in strategies}
    for _ in range(repeats):
        for strategy in strategies:
            runs[strategy].append(await fetch_single_user(db, user_id, strategy))
    return {strategy: _summarised(measured) for strategy, measured in runs.items()}


async def compare_single_user(
    db: Database, user_id: str, repeats: int = SINGLE_REPEATS
) -> Comparison:
    """The lab page's pair: ``get_by_id`` + scores against ``get_user_with_scores_eager``,
    each timed as the median of ``repeats`` interleaved runs after a warm-up."""
    runs = await measure_single_users(db, user_id, (PER_ROW, EAGER), repeats)
    return Comparison(database=db.description, per_row=runs[PER_ROW], eager=runs[EAGER])
