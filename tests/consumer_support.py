"""Helpers shared by the consumer tests: scored users written through the services, the
projection read back, a consumer run in-process."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from sqlalchemy import select

from qulab.core.consumers import Consumer, ConsumeResult, Source
from qulab.core.db import Database
from qulab.platform.models import UserScoreSummary
from qulab.platform.projection import ScoreSummaryProjection
from qulab.platform.services.scoring import calculate_and_store_airscore
from tests.service_calls import create_user, delete_user

ROOT = Path(__file__).resolve().parent.parent


async def scored_users(db: Database, scores: list[int], *, deleted: int = 0) -> list[str]:
    """One user per entry of ``scores`` with that many scores; the first ``deleted`` of them
    are then deleted. Returns the user ids."""
    ids: list[str] = []
    for index, count in enumerate(scores):
        user = await create_user(
            db,
            email=f"user{index}.{os.urandom(3).hex()}@example.com",
            name=f"User {index}",
            occupation_code="SW_ENG",
            education_level="bachelor",
            years_experience=float(index % 7),
        )
        for _ in range(count):
            await calculate_and_store_airscore(db, user.id)
        ids.append(user.id)
    for user_id in ids[:deleted]:
        await delete_user(db, user_id)
    return ids


async def summaries(db: Database) -> dict[str, UserScoreSummary]:
    async with db.session() as session:
        rows = (await session.execute(select(UserScoreSummary))).scalars()
        return {row.user_id: row for row in rows}


async def consume_all(db: Database, source: Source, *, name: str | None = None) -> ConsumeResult:
    consumer = Consumer(db, source, ScoreSummaryProjection(), name=name, wait=0.5)
    return await consumer.run_once()


async def run_dying_consumer(group: str, env: dict[str, str]) -> tuple[int, str]:
    """``tests.consumer_process``: commits its first batch, then SIGKILLs itself before the
    ack. Returns its exit code and what it said."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QULAB_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.consumer_process",
        group,
        cwd=ROOT,
        env=clean | env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        _, said = await process.communicate()
    return int(process.returncode or 0), said.decode()
