"""A benchmark report names the PostgreSQL it could not reach without its password."""

from __future__ import annotations

from pathlib import Path

from bench.harness import BenchConfig, run, write_results

from tests.services import free_port


async def test_an_unreachable_postgres_is_noted_without_its_password(tmp_path: Path) -> None:
    address = f"postgresql+asyncpg://bench:***@127.0.0.1:{free_port()}/postgres"
    config = BenchConfig.smoke(postgres_url=address.replace("***", "S3cretPW"), sqlite_dir=tmp_path)

    [report] = await run(["pool"], config)

    [note] = report.notes
    assert note.startswith(f"not measured: PostgreSQL unavailable (cannot connect to {address}: ")
    json_path, md_path = write_results([report], tmp_path)
    for written in (json_path.read_text(), md_path.read_text()):
        assert address in written and "S3cretPW" not in written
