"""Each package's public names are exactly the ones spelled here: sorted, importable, no more."""

from __future__ import annotations

import importlib

import pytest

EXPORTED = {
    "qulab": [
        "AIRScore",
        "Assessment",
        "AssessmentRepository",
        "Base",
        "BrokerUnavailable",
        "Cache",
        "CacheUnavailable",
        "CachedUserRepository",
        "ConfigurationError",
        "ConflictError",
        "Database",
        "DomainEvent",
        "DomainEventRepository",
        "DuplicateEmailError",
        "EventStatus",
        "EventType",
        "InvalidInput",
        "NotFound",
        "PoolExhausted",
        "PoolStatus",
        "QuLab",
        "QulabError",
        "RelayAlreadyRunning",
        "SchemaMissing",
        "ScoreRepository",
        "ServiceUnavailable",
        "Settings",
        "StatementCounter",
        "UnitOfWork",
        "User",
        "UserError",
        "UserRepository",
        "bootstrap",
        "build_cache",
        "build_publisher",
        "calculate_and_store_airscore",
        "count_statements",
        "create_sample_airscore",
        "event_publisher",
        "get_settings",
        "load_settings",
        "make_engine",
        "publish_pending",
        "run_db_setup_and_create_user",
    ],
    "qulab.adapters.cache": [
        "BreakerState",
        "Cache",
        "CacheBackend",
        "CacheResult",
        "CacheStatus",
        "CacheUnavailable",
        "CachedUserRepository",
        "CircuitBreaker",
        "Family",
        "FamilyStats",
        "MemoryBackend",
        "Outcome",
        "RedisBackend",
        "StatsSnapshot",
        "average_access_time",
        "build_cache",
        "read_latest_score_cached",
        "read_user_cached",
    ],
    "qulab.adapters.outbox": [
        "MemoryBroker",
        "OutageSwitch",
        "OutboxMessage",
        "OutboxStatus",
        "PassResult",
        "Publisher",
        "RabbitMQPublisher",
        "RedisStreamsPublisher",
        "Relay",
        "RetryPolicy",
        "StdoutPublisher",
        "build_publisher",
        "event_publisher",
        "memory_broker",
        "outbox_status",
        "parse_age",
        "publish_pending",
        "purge_published",
        "ranges",
        "replay",
        "stream_name",
    ],
    "qulab.lab": [
        "DEMO_USERS",
        "Comparison",
        "ExhaustionResult",
        "HolderOutcome",
        "LoadRun",
        "PoolingComparison",
        "SetupResult",
        "StrategyRun",
        "compare_all_users",
        "compare_pooling",
        "compare_single_user",
        "create_sample_airscore",
        "demonstrate_pool_exhaustion",
        "eager_queries",
        "fetch_single_user",
        "load_eager",
        "load_per_row",
        "request_unit",
        "run_db_setup_and_create_user",
        "run_eager",
        "run_load",
        "run_per_row",
        "sample_score",
    ],
    "qulab.entrypoints.cli": ["app", "entry", "main"],
    "qulab.entrypoints.app": ["APP_DIR", "MAIN_SCRIPT"],
    "qulab.seed_names": [
        "CachedUserRepository",
        "DomainEventRepository",
        "UserRepository",
        "calculate_and_store_airscore",
        "create_sample_airscore",
        "event_publisher",
        "run_db_setup_and_create_user",
    ],
}


@pytest.mark.parametrize("package", sorted(EXPORTED))
def test_package_exports_exactly_its_public_names(package: str) -> None:
    module = importlib.import_module(package)
    exported = getattr(module, "__all__", None)
    assert exported == EXPORTED[package]
    assert exported == sorted(exported, key=lambda name: (not name.isupper(), name))


@pytest.mark.parametrize("package", sorted(EXPORTED))
def test_every_exported_name_is_importable(package: str) -> None:
    module = importlib.import_module(package)
    missing = [name for name in EXPORTED[package] if not hasattr(module, name)]
    assert missing == []
