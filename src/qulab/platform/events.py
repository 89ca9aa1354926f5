"""The platform's domain events: what its services record on the unit of work.

Each class declares its wire form on the core's ``Event`` (the wire type, aggregate and key
field; the payload and its reading are derived from the fields) and, with ``affects=``, the
fields naming the users whose cached user and latest-score entries it makes stale. Which users
an event touches is the platform's idea: the core knows only events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Unpack

from qulab.core.events import EVENT_TYPES, Declaration, Event, OpaqueEvent, from_wire
from qulab.platform.models import EventType

__all__ = [
    "ASSESSMENT_AGGREGATE",
    "EVENT_TYPES",
    "SCORE_AGGREGATE",
    "USERS_REMOVED",
    "USER_AGGREGATE",
    "AssessmentCompleted",
    "Event",
    "OpaqueEvent",
    "PlatformEvent",
    "ScoreCalculated",
    "UserCreated",
    "UserDeleted",
    "UserUpdated",
    "UsersRemoved",
    "affected_users",
    "from_wire",
]

USER_AGGREGATE = "User"
SCORE_AGGREGATE = "AIRScore"
ASSESSMENT_AGGREGATE = "Assessment"
USERS_REMOVED = "users.removed"


@dataclass(frozen=True)
class PlatformEvent(Event):
    """An event of the platform: ``affects=`` names the fields holding a user id (``str``) or
    user ids (``tuple[str, ...]``) whose cached entries the event makes stale."""

    user_fields: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(
        cls, *, affects: str | tuple[str, ...] | None = None, **declared: Unpack[Declaration]
    ) -> None:
        super().__init_subclass__(**declared)
        if affects is not None:
            cls.user_fields = (affects,) if isinstance(affects, str) else affects

    @property
    def affected_users(self) -> tuple[str, ...]:
        """Users whose cached user and latest-score entries this event makes stale."""
        users: list[str] = []
        for name in self.user_fields:
            value = getattr(self, name)
            users.extend([value] if isinstance(value, str) else value)
        return tuple(users)


def affected_users(event: Event) -> tuple[str, ...]:
    """The users any event makes stale: none for an event that is not the platform's."""
    return event.affected_users if isinstance(event, PlatformEvent) else ()


@dataclass(frozen=True)
class UserCreated(
    PlatformEvent, type=EventType.USER_CREATED, aggregate=USER_AGGREGATE, key="user_id"
):
    user_id: str
    email: str
    name: str


@dataclass(frozen=True)
class UserUpdated(
    PlatformEvent,
    type=EventType.USER_UPDATED,
    aggregate=USER_AGGREGATE,
    key="user_id",
    affects="user_id",
):
    user_id: str
    changes: Mapping[str, Any]


@dataclass(frozen=True)
class UserDeleted(
    PlatformEvent,
    type=EventType.USER_DELETED,
    aggregate=USER_AGGREGATE,
    key="user_id",
    affects="user_id",
):
    user_id: str
    email: str
    name: str


@dataclass(frozen=True)
class ScoreCalculated(
    PlatformEvent,
    type=EventType.SCORE_CALCULATED,
    aggregate=SCORE_AGGREGATE,
    key="score_id",
    affects="user_id",
):
    user_id: str
    score_id: str
    occupation_code: str
    air_score: float
    ci_lower: float
    ci_upper: float
    parameter_version: str


@dataclass(frozen=True)
class AssessmentCompleted(
    PlatformEvent,
    type=EventType.ASSESSMENT_COMPLETED,
    aggregate=ASSESSMENT_AGGREGATE,
    key="assessment_id",
    affects="user_id",
):
    assessment_id: str
    user_id: str
    component: str
    ability: float
    items_administered: int


@dataclass(frozen=True)
class UsersRemoved(
    PlatformEvent,
    type=USERS_REMOVED,
    aggregate=USER_AGGREGATE,
    key="removal_id",
    key_in_payload=False,
    affects="user_ids",
):
    """Many users removed at once (clearing seeded data, starting over): one event, not one
    per user. ``removal_id`` identifies the removal (it is the aggregate id, not in the
    payload); ``count`` is derived from ``user_ids`` and travels for consumers' convenience."""

    removal_id: str
    user_ids: tuple[str, ...]
    count: int = field(init=False)
    reason: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "count", len(self.user_ids))
