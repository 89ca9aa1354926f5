"""``qulab bench``: no names lists the suites; suites use the configured services (or the
benchmark-only overrides) and skip what is not configured; docs change only when asked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench.harness import REGISTRY, BenchConfig, Report, bench_settings, run, write_results

from qulab.core.config import get_settings
from qulab.entrypoints.cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs"
SERVICE_VARIABLES = (
    "QULAB_DATABASE_URL",
    "QULAB_REDIS_URL",
    "QULAB_BENCH_POSTGRES_URL",
    "QULAB_BENCH_REDIS_URL",
)


@pytest.fixture
def unconfigured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No service configured: the embedded SQLite default, no Redis."""
    for name in SERVICE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()


def test_no_names_lists_every_suite_with_what_it_needs_and_runs_nothing(
    unconfigured: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["benchmarks"]
    assert [row["name"] for row in listed] == sorted(REGISTRY)
    ready = {row["name"]: row["ready"] for row in listed}
    assert ready["cli_start"] and ready["nplusone"]  # SQLite is always there
    assert not ready["outbox"] and not ready["cache"]  # PostgreSQL and Redis are not

    assert main(["bench"]) == 0
    shown = capsys.readouterr()
    assert all(name in shown.out for name in REGISTRY)
    assert "PostgreSQL: not configured" in shown.out and "running" not in shown.err


def test_suites_use_the_configured_services_and_the_bench_variables_override_them(
    unconfigured: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (BenchConfig().postgres_url, BenchConfig().redis_url) == (None, None)

    monkeypatch.setenv("QULAB_DATABASE_URL", "postgresql+asyncpg://app@db.example:5433/app")
    monkeypatch.setenv("QULAB_REDIS_URL", "redis://cache.example:6380/4")
    config = BenchConfig()
    assert config.postgres_url == "postgresql+asyncpg://app@db.example:5433/app"
    assert config.redis_url == "redis://cache.example:6380/4"

    monkeypatch.setenv("QULAB_BENCH_POSTGRES_URL", "postgresql+asyncpg://bench@b.example/b")
    monkeypatch.setenv("QULAB_BENCH_REDIS_URL", "redis://b.example:6390/9")
    overridden = BenchConfig()
    assert overridden.postgres_url == "postgresql+asyncpg://bench@b.example/b"
    assert overridden.redis_url == "redis://b.example:6390/9"

    monkeypatch.delenv("QULAB_BENCH_POSTGRES_URL")
    monkeypatch.setenv("QULAB_DATABASE_URL", "sqlite+aiosqlite:///./qulab.db")
    assert BenchConfig().postgres_url is None  # SQLite is not a server to create databases on


async def test_a_suite_without_its_services_is_not_run_and_keeps_its_stored_results(
    tmp_path: Path,
) -> None:
    config = BenchConfig.smoke(postgres_url=None, redis_url=None, sqlite_dir=tmp_path)
    [report] = await run(["outbox"], config)
    assert report.tables == [] and report.targets == []
    assert report.notes == [
        "not run: no postgresql configured (set QULAB_DATABASE_URL to a postgresql+asyncpg:// "
        "URL, or QULAB_BENCH_POSTGRES_URL); no redis server configured (set QULAB_REDIS_URL, "
        "or QULAB_BENCH_REDIS_URL, to a redis:// URL)"
    ]

    stored = Report("outbox", "Outbox", notes=["measured earlier"])
    json_path, _ = write_results([stored], tmp_path)
    write_results([report], tmp_path)
    kept = json.loads(json_path.read_text())["reports"]["outbox"]
    assert kept["notes"] == ["measured earlier"]


@pytest.mark.parametrize("name", ["cache", "cache-strategies", "outbox", "peers", "relays"])
async def test_a_suite_that_measures_one_redis_server_is_not_run_on_a_cluster(
    name: str, tmp_path: Path
) -> None:
    cluster = "redis+cluster://bench:secret@10.0.0.1:7000,10.0.0.2:7000"
    config = BenchConfig.smoke(
        postgres_url="postgresql+asyncpg://bench@b.example/b",
        redis_url=cluster,
        sqlite_dir=tmp_path,
    )
    [report] = await run([name], config)
    assert report.tables == [] and report.targets == []
    assert report.notes == [
        "not run: this suite measures one Redis server, not the Redis Cluster at "
        "redis+cluster://bench:***@10.0.0.1:7000,10.0.0.2:7000 (set QULAB_REDIS_URL, or "
        "QULAB_BENCH_REDIS_URL, to a redis:// URL)"
    ]


def test_a_full_run_writes_under_docs_only_with_write_docs(
    unconfigured: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tracked = {path.name: path.read_bytes() for path in DOCS.glob("*") if path.is_file()}

    assert main(["bench", "pool", "--rounds", "1"]) == 0
    assert capsys.readouterr().out.endswith(
        "results not written (--write-docs updates docs/, --output DIR elsewhere)\n"
    )
    assert {path.name: path.read_bytes() for path in DOCS.glob("*") if path.is_file()} == tracked

    elsewhere = tmp_path / "results"
    assert main(["bench", "pool", "--rounds", "1", "--output", str(elsewhere)]) == 0
    assert sorted(path.name for path in elsewhere.iterdir()) == [
        "benchmarks.json",
        "benchmarks.md",
    ]
    assert {path.name: path.read_bytes() for path in DOCS.glob("*") if path.is_file()} == tracked


def test_a_benchmark_runtime_never_writes_to_the_applications_cache_or_streams(
    unconfigured: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QULAB_REDIS_URL", "redis://cache.example:6380/4")
    monkeypatch.setenv("QULAB_BROKER_URL", "redis://cache.example:6380/4")
    monkeypatch.setenv("QULAB_CACHE_PREFIX", "app:")
    monkeypatch.setenv("QULAB_POOL_SIZE", "7")
    settings = bench_settings(database_url="sqlite+aiosqlite:///:memory:")
    assert settings.cache.redis_url is None and settings.broker.url == "memory://"
    assert settings.cache.prefix.startswith("qulab_bench_")
    assert settings.database.pool_size == 7  # the configured tuning still applies
    own = bench_settings(broker_url="redis://cache.example:6380/4", outbox_stream_prefix="b:")
    assert own.broker.url == "redis://cache.example:6380/4"  # a benchmark may name its own


def test_python_m_bench_refuses_an_unknown_name_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bench.__main__ import main as bench_main

    assert bench_main(["nosuch"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: unknown benchmark(s): nosuch; known: ")
    assert error.count("\n") == 1
    assert bench_main(["--help"]) == 0
    assert "python -m bench [NAME ...]" in capsys.readouterr().out
