"""The throwaway schema's DDL runs as shown: created in a scratch SQLite file and in a scratch
PostgreSQL database, then the one-to-one and many-to-many constraints hold."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

from qulab.lab.relationships import catalogue


@pytest.fixture
def scratch_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "postgresql":
        return str(request.getfixturevalue("fresh_pg_url"))
    return f"sqlite+aiosqlite:///{tmp_path / 'scratch.db'}"


async def test_the_compiled_ddl_creates_tables_that_enforce_the_relationship(
    scratch_url: str, backend: str
) -> None:
    examples = {example.kind: example for example in catalogue(backend)}
    engine = create_async_engine(scratch_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE users (id VARCHAR(36) PRIMARY KEY)"))
            for kind in ("one-to-one", "many-to-many"):
                for statement in examples[kind].ddl:
                    await conn.execute(text(statement))
            await conn.execute(text("INSERT INTO users (id) VALUES ('u1')"))
            await conn.execute(text("INSERT INTO skills (id, name) VALUES ('s1', 'sql')"))
            await conn.execute(text("INSERT INTO skills (id, name) VALUES ('s2', 'redis')"))
            await conn.execute(
                text("INSERT INTO user_profiles (user_id, headline) VALUES ('u1', 'hi')")
            )
            await conn.execute(
                text(
                    "INSERT INTO user_skills (user_id, skill_id) VALUES ('u1', 's1'), ('u1', 's2')"
                )
            )
            rows = await conn.execute(text(examples["many-to-many"].query))
            assert sorted(name for _, name in rows.all()) == ["redis", "sql"]
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(
                    text("INSERT INTO user_profiles (user_id, headline) VALUES ('u1', 'again')")
                )
    finally:
        await engine.dispose()
