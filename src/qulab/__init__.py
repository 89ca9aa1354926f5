"""QuLab: an async data layer for an AI-readiness platform, and a lab that measures it."""

from qulab.cache import Cache, CachedUserRepository, build_cache
from qulab.config import Settings, get_settings, load_settings
from qulab.db import Database, PoolStatus, StatementCounter, count_statements, make_engine
from qulab.errors import (
    BrokerUnavailable,
    ConfigurationError,
    ConflictError,
    DuplicateEmailError,
    InvalidInput,
    NotFound,
    PoolExhausted,
    QulabError,
    ServiceUnavailable,
    UserError,
)
from qulab.lab import create_sample_airscore, run_db_setup_and_create_user
from qulab.models import AIRScore, Assessment, Base, DomainEvent, EventStatus, EventType, User
from qulab.outbox import build_publisher, event_publisher, publish_pending
from qulab.repositories import (
    AssessmentRepository,
    DomainEventRepository,
    ScoreRepository,
    UserRepository,
)
from qulab.scoring import calculate_and_store_airscore
from qulab.uow import UnitOfWork

__all__ = [
    "AIRScore",
    "Assessment",
    "AssessmentRepository",
    "Base",
    "BrokerUnavailable",
    "Cache",
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
    "ScoreRepository",
    "ServiceUnavailable",
    "Settings",
    "StatementCounter",
    "UnitOfWork",
    "User",
    "UserError",
    "UserRepository",
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
