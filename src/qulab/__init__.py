"""QuLab: an async data layer any application can adopt, the AI-R platform on it, and a lab
that measures both.

The names here are the codelab's and the platform's most used ones; ``qulab.core`` and
``qulab.platform`` list their whole public surfaces. ``qulab.__version__`` is the installed
package's version. Importing ``qulab`` is cheap: each public name is loaded from its module on
first use, so that ``python -m qulab`` can take charge of SIGTERM before SQLAlchemy, Redis and
the brokers load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qulab._lazy import lazy_attributes

if TYPE_CHECKING:
    from qulab.core.bootstrap import Runtime
    from qulab.core.cache import Cache, build_cache
    from qulab.core.config import Settings, get_settings, load_settings
    from qulab.core.db import (
        Database,
        PoolStatus,
        StatementCounter,
        count_statements,
        make_engine,
    )
    from qulab.core.errors import (
        BrokerUnavailable,
        CacheUnavailable,
        ConfigurationError,
        ConflictError,
        InvalidInput,
        NotFound,
        PoolExhausted,
        QulabError,
        RelayAlreadyRunning,
        SchemaMissing,
        ServiceUnavailable,
        UserError,
    )
    from qulab.core.models import DomainEvent, EventStatus
    from qulab.core.outbox import build_publisher, event_publisher, publish_pending
    from qulab.core.uow import UnitOfWork
    from qulab.lab import create_sample_airscore, run_db_setup_and_create_user
    from qulab.platform.application import bootstrap
    from qulab.platform.cache import CachedUserRepository
    from qulab.platform.errors import DuplicateEmailError
    from qulab.platform.models import AIRScore, Assessment, Base, EventType, User
    from qulab.platform.repositories import AssessmentRepository, ScoreRepository, UserRepository
    from qulab.platform.services.scoring import calculate_and_store_airscore
    from qulab.seed_names import DomainEventRepository

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
    "QulabError",
    "RelayAlreadyRunning",
    "Runtime",
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
    "AIRScore": "qulab.platform.models",
    "Assessment": "qulab.platform.models",
    "AssessmentRepository": "qulab.platform.repositories",
    "Base": "qulab.platform.models",
    "BrokerUnavailable": "qulab.core.errors",
    "Cache": "qulab.core.cache",
    "Runtime": "qulab.core.bootstrap",
    "bootstrap": "qulab.platform.application",
    "CacheUnavailable": "qulab.core.errors",
    "CachedUserRepository": "qulab.platform.cache",
    "ConfigurationError": "qulab.core.errors",
    "ConflictError": "qulab.core.errors",
    "Database": "qulab.core.db",
    "DomainEvent": "qulab.core.models",
    "DomainEventRepository": "qulab.seed_names",
    "DuplicateEmailError": "qulab.platform.errors",
    "EventStatus": "qulab.core.models",
    "EventType": "qulab.platform.models",
    "InvalidInput": "qulab.core.errors",
    "NotFound": "qulab.core.errors",
    "PoolExhausted": "qulab.core.errors",
    "PoolStatus": "qulab.core.db",
    "QulabError": "qulab.core.errors",
    "RelayAlreadyRunning": "qulab.core.errors",
    "SchemaMissing": "qulab.core.errors",
    "ScoreRepository": "qulab.platform.repositories",
    "ServiceUnavailable": "qulab.core.errors",
    "Settings": "qulab.core.config",
    "StatementCounter": "qulab.core.db",
    "UnitOfWork": "qulab.core.uow",
    "User": "qulab.platform.models",
    "UserError": "qulab.core.errors",
    "UserRepository": "qulab.platform.repositories",
    "build_cache": "qulab.core.cache",
    "build_publisher": "qulab.core.outbox",
    "calculate_and_store_airscore": "qulab.platform.services.scoring",
    "count_statements": "qulab.core.db",
    "create_sample_airscore": "qulab.lab",
    "event_publisher": "qulab.core.outbox",
    "get_settings": "qulab.core.config",
    "load_settings": "qulab.core.config",
    "make_engine": "qulab.core.db",
    "publish_pending": "qulab.core.outbox",
    "run_db_setup_and_create_user": "qulab.lab",
}


_public = lazy_attributes(__name__, _HOMES, globals())


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        found = globals()["__version__"] = version("qulab")
        return found
    return _public(name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | {"__version__"})
