"""QuLab: an async data layer for an AI-readiness platform, and a lab that measures it.

Importing ``qulab`` is cheap: each public name is loaded from its module on first use, so that
``python -m qulab`` can take charge of SIGTERM before SQLAlchemy, Redis and the brokers load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qulab._lazy import lazy_attributes

if TYPE_CHECKING:
    from qulab.adapters.cache import Cache, CachedUserRepository, build_cache
    from qulab.adapters.db import (
        Database,
        PoolStatus,
        StatementCounter,
        count_statements,
        make_engine,
    )
    from qulab.adapters.outbox import build_publisher, event_publisher, publish_pending
    from qulab.adapters.repositories import AssessmentRepository, ScoreRepository, UserRepository
    from qulab.adapters.uow import UnitOfWork
    from qulab.bootstrap import QuLab, bootstrap
    from qulab.config import Settings, get_settings, load_settings
    from qulab.domain.errors import (
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
    from qulab.domain.models import (
        AIRScore,
        Assessment,
        Base,
        DomainEvent,
        EventStatus,
        EventType,
        User,
    )
    from qulab.lab import create_sample_airscore, run_db_setup_and_create_user
    from qulab.seed_names import DomainEventRepository
    from qulab.services.scoring import calculate_and_store_airscore

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
    "AIRScore": "qulab.domain.models",
    "Assessment": "qulab.domain.models",
    "AssessmentRepository": "qulab.adapters.repositories",
    "Base": "qulab.domain.models",
    "BrokerUnavailable": "qulab.domain.errors",
    "Cache": "qulab.adapters.cache",
    "QuLab": "qulab.bootstrap",
    "bootstrap": "qulab.bootstrap",
    "CacheUnavailable": "qulab.domain.errors",
    "CachedUserRepository": "qulab.adapters.cache",
    "ConfigurationError": "qulab.domain.errors",
    "ConflictError": "qulab.domain.errors",
    "Database": "qulab.adapters.db",
    "DomainEvent": "qulab.domain.models",
    "DomainEventRepository": "qulab.seed_names",
    "DuplicateEmailError": "qulab.domain.errors",
    "EventStatus": "qulab.domain.models",
    "EventType": "qulab.domain.models",
    "InvalidInput": "qulab.domain.errors",
    "NotFound": "qulab.domain.errors",
    "PoolExhausted": "qulab.domain.errors",
    "PoolStatus": "qulab.adapters.db",
    "QulabError": "qulab.domain.errors",
    "RelayAlreadyRunning": "qulab.domain.errors",
    "SchemaMissing": "qulab.domain.errors",
    "ScoreRepository": "qulab.adapters.repositories",
    "ServiceUnavailable": "qulab.domain.errors",
    "Settings": "qulab.config",
    "StatementCounter": "qulab.adapters.db",
    "UnitOfWork": "qulab.adapters.uow",
    "User": "qulab.domain.models",
    "UserError": "qulab.domain.errors",
    "UserRepository": "qulab.adapters.repositories",
    "build_cache": "qulab.adapters.cache",
    "build_publisher": "qulab.adapters.outbox",
    "calculate_and_store_airscore": "qulab.services.scoring",
    "count_statements": "qulab.adapters.db",
    "create_sample_airscore": "qulab.lab",
    "event_publisher": "qulab.adapters.outbox",
    "get_settings": "qulab.config",
    "load_settings": "qulab.config",
    "make_engine": "qulab.adapters.db",
    "publish_pending": "qulab.adapters.outbox",
    "run_db_setup_and_create_user": "qulab.lab",
}


__getattr__ = lazy_attributes(__name__, _HOMES, globals())


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
