"""QuLab: an async data layer for an AI-readiness platform, and a lab that measures it.

Importing ``qulab`` is cheap: each public name is loaded from its module on first use, so that
``python -m qulab`` can take charge of SIGTERM before SQLAlchemy, Redis and the brokers load.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qulab.bootstrap import QuLab, bootstrap
    from qulab.cache import Cache, CachedUserRepository, build_cache
    from qulab.config import Settings, get_settings, load_settings
    from qulab.db import Database, PoolStatus, StatementCounter, count_statements, make_engine
    from qulab.errors import (
        BrokerUnavailable,
        CacheUnavailable,
        ConfigurationError,
        ConflictError,
        DuplicateEmailError,
        InvalidInput,
        NotFound,
        PoolExhausted,
        QulabError,
        RelayAlreadyRunning,
        SchemaMissing,
        ServiceUnavailable,
        UserError,
    )
    from qulab.lab import create_sample_airscore, run_db_setup_and_create_user
    from qulab.models import AIRScore, Assessment, Base, DomainEvent, EventStatus, EventType, User
    from qulab.outbox import build_publisher, event_publisher, publish_pending
    from qulab.repositories import AssessmentRepository, ScoreRepository, UserRepository
    from qulab.scoring import calculate_and_store_airscore
    from qulab.seed_names import DomainEventRepository
    from qulab.uow import UnitOfWork

__all__ = [
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
]

_HOMES = {
    "AIRScore": "qulab.models",
    "Assessment": "qulab.models",
    "AssessmentRepository": "qulab.repositories",
    "Base": "qulab.models",
    "BrokerUnavailable": "qulab.errors",
    "Cache": "qulab.cache",
    "QuLab": "qulab.bootstrap",
    "bootstrap": "qulab.bootstrap",
    "CacheUnavailable": "qulab.errors",
    "CachedUserRepository": "qulab.cache",
    "ConfigurationError": "qulab.errors",
    "ConflictError": "qulab.errors",
    "Database": "qulab.db",
    "DomainEvent": "qulab.models",
    "DomainEventRepository": "qulab.seed_names",
    "DuplicateEmailError": "qulab.errors",
    "EventStatus": "qulab.models",
    "EventType": "qulab.models",
    "InvalidInput": "qulab.errors",
    "NotFound": "qulab.errors",
    "PoolExhausted": "qulab.errors",
    "PoolStatus": "qulab.db",
    "QulabError": "qulab.errors",
    "RelayAlreadyRunning": "qulab.errors",
    "SchemaMissing": "qulab.errors",
    "ScoreRepository": "qulab.repositories",
    "ServiceUnavailable": "qulab.errors",
    "Settings": "qulab.config",
    "StatementCounter": "qulab.db",
    "UnitOfWork": "qulab.uow",
    "User": "qulab.models",
    "UserError": "qulab.errors",
    "UserRepository": "qulab.repositories",
    "build_cache": "qulab.cache",
    "build_publisher": "qulab.outbox",
    "calculate_and_store_airscore": "qulab.scoring",
    "count_statements": "qulab.db",
    "create_sample_airscore": "qulab.lab",
    "event_publisher": "qulab.outbox",
    "get_settings": "qulab.config",
    "load_settings": "qulab.config",
    "make_engine": "qulab.db",
    "publish_pending": "qulab.outbox",
    "run_db_setup_and_create_user": "qulab.lab",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'qulab' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
