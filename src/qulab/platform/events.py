"""Typed domain events: what a service records on the unit of work.

Each event knows its wire form (the ``type``, aggregate and JSON payload stored in
``domain_events`` and sent by the relay) and which users' cached entries it makes stale. The
registry turns a wire row back into the typed event, so the relay can apply the same handlers
to what it published.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from qulab.platform.models import EventType

USER_AGGREGATE = "User"
SCORE_AGGREGATE = "AIRScore"
ASSESSMENT_AGGREGATE = "Assessment"
USERS_REMOVED = "users.removed"


@dataclass(frozen=True)
class Event:
    """Base of every domain event. Subclasses set ``wire_type`` and ``aggregate_type`` and
    map their fields to and from the payload."""

    wire_type: ClassVar[str] = ""
    aggregate_type: ClassVar[str] = ""

    @property
    def event_type(self) -> str:
        return self.wire_type

    @property
    def aggregate(self) -> str:
        return self.aggregate_type

    @property
    def aggregate_id(self) -> str:
        raise NotImplementedError

    def payload(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def affected_users(self) -> tuple[str, ...]:
        """Users whose cached user and latest-score entries this event makes stale."""
        return ()

    @classmethod
    def from_wire(cls, aggregate_id: str, payload: Mapping[str, Any]) -> Self:
        raise NotImplementedError


@dataclass(frozen=True)
class UserCreated(Event):
    wire_type: ClassVar[str] = EventType.USER_CREATED.value
    aggregate_type: ClassVar[str] = USER_AGGREGATE
    user_id: str
    email: str
    name: str

    @property
    def aggregate_id(self) -> str:
        return self.user_id

    def payload(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "email": self.email, "name": self.name}

    @classmethod
    def from_wire(cls, aggregate_id: str, payload: Mapping[str, Any]) -> Self:
        return cls(
            str(payload.get("user_id", aggregate_id)),
            str(payload.get("email", "")),
            str(payload.get("name", "")),
        )


@dataclass(frozen=True)
class UserUpdated(Event):
    wire_type: ClassVar[str] = EventType.USER_UPDATED.value
    aggregate_type: ClassVar[str] = USER_AGGREGATE
    user_id: str
    changes: Mapping[str, Any]

    @property
    def aggregate_id(self) -> str:
        return self.user_id

    def payload(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "changes": dict(self.changes)}

    @property
    def affected_users(self) -> tuple[str, ...]:
        return (self.user_id,)

    @classmethod
    def from_wire(cls, aggregate_id: str, payload: Mapping[str, Any]) -> Self:
        changes = payload.get("changes")
        return cls(
            str(payload.get("user_id", aggregate_id)),
            dict(changes) if isinstance(changes, Mapping) else {},
        )


@dataclass(frozen=True)
class UserDeleted(Event):
    wire_type: ClassVar[str] = EventType.USER_DELETED.value
    aggregate_type: ClassVar[str] = USER_AGGREGATE
    user_id: str
    email: str
    name: str

    @property
    def aggregate_id(self) -> str:
        return self.user_id

    def payload(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "email": self.email, "name": self.name}

    @property
    def affected_users(self) -> tuple[str, ...]:
        return (self.user_id,)

    @classmethod
    def from_wire(cls, aggregate_id: str, payload: Mapping[str, Any]) -> Self:
        return cls(
            str(payload.get("user_id", aggregate_id)),
            str(payload.get("email", "")),
            str(payload.get("name", "")),
        )


@dataclass(frozen=True)
class ScoreCalculated(Event):
    wire_type: ClassVar[str] = EventType.SCORE_CALCULATED.value
    aggregate_type: ClassVar[str] = SCORE_AGGREGATE
    user_id: str
    score_id: str
    occupation_code: str
    air_score: float
    ci_lower: float
    ci_upper: float
    parameter_version: str

    @property
    def aggregate_id(self) -> str:
        return self.score_id

    def payload(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "score_id": self.score_id,
            "occupation_code": self.occupation_code,
            "air_score": self.air_score,
            "ci_lower": self.ci_lower,
            "ci_upper": self.ci_upper,
            "parameter_version": self.parameter_version,
        }

    @property
    def affected_users(self) -> tuple[str, ...]:
        return (self.user_id,)

    @classmethod
    def from_wire(cls, aggregate_id: str, payload: Mapping[str, Any]) -> Self:
        return cls(
            user_id=str(payload.get("user_id", "")),
            score_id=str(payload.get("score_id", aggregate_id)),
            occupation_code=str(payload.get("occupation_code", "")),
            air_score=float(payload.get("air_score", 0.0)),
            ci_lower=float(payload.get("ci_lower", 0.0)),
            ci_upper=float(payload.get("ci_upper", 0.0)),
            parameter_version=str(payload.get("parameter_version", "")),
        )


@dataclass(frozen=True)
class AssessmentCompleted(Event):
    wire_type: ClassVar[str] = EventType.ASSESSMENT_COMPLETED.value
    aggregate_type: ClassVar[str] = ASSESSMENT_AGGREGATE
    assessment_id: str
    user_id: str
    component: str
    ability: float
    items_administered: int

    @property
    def aggregate_id(self) -> str:
        return self.assessment_id

    def payload(self) -> dict[str, Any]:
        return {
            "assessment_id": self.assessment_id,
            "user_id": self.user_id,
            "component": self.component,
            "ability": self.ability,
            "items_administered": self.items_administered,
        }

    @property
    def affected_users(self) -> tuple[str, ...]:
        return (self.user_id,)

    @classmethod
    def from_wire(cls, aggregate_id: str, payload: Mapping[str, Any]) -> Self:
        return cls(
            assessment_id=str(payload.get("assessment_id", aggregate_id)),
            user_id=str(payload.get("user_id", "")),
            component=str(payload.get("component", "")),
            ability=float(payload.get("ability", 0.0)),
            items_administered=int(payload.get("items_administered", 0)),
        )


@dataclass(frozen=True)
class UsersRemoved(Event):
    """Many users removed at once (clearing seeded data, starting over): one event, not one
    per user. ``removal_id`` identifies the removal (it is the aggregate id)."""

    wire_type: ClassVar[str] = USERS_REMOVED
    aggregate_type: ClassVar[str] = USER_AGGREGATE
    removal_id: str
    user_ids: tuple[str, ...]
    reason: str

    @property
    def aggregate_id(self) -> str:
        return self.removal_id

    def payload(self) -> dict[str, Any]:
        return {"user_ids": list(self.user_ids), "count": len(self.user_ids), "reason": self.reason}

    @property
    def affected_users(self) -> tuple[str, ...]:
        return self.user_ids

    @classmethod
    def from_wire(cls, aggregate_id: str, payload: Mapping[str, Any]) -> Self:
        ids = payload.get("user_ids")
        user_ids = tuple(str(i) for i in ids) if isinstance(ids, list) else ()
        return cls(aggregate_id, user_ids, str(payload.get("reason", "")))


@dataclass(frozen=True)
class OpaqueEvent(Event):
    """An event QuLab's own handlers know nothing about (benchmark and test traffic, types
    written by other producers): carried on the wire as given, affecting no cached entry."""

    type: str
    aggregate_kind: str
    aggregate_key: str
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def event_type(self) -> str:
        return self.type

    @property
    def aggregate(self) -> str:
        return self.aggregate_kind

    @property
    def aggregate_id(self) -> str:
        return self.aggregate_key

    def payload(self) -> dict[str, Any]:
        return dict(self.data)


EVENT_TYPES: dict[str, type[Event]] = {
    kind.wire_type: kind
    for kind in (
        UserCreated,
        UserUpdated,
        UserDeleted,
        ScoreCalculated,
        AssessmentCompleted,
        UsersRemoved,
    )
}


def from_wire(
    event_type: str, aggregate_type: str, aggregate_id: str, payload: Mapping[str, Any]
) -> Event:
    """The typed event for a stored or published row; an unknown type is an OpaqueEvent."""
    kind = EVENT_TYPES.get(event_type)
    if kind is None:
        return OpaqueEvent(event_type, aggregate_type, aggregate_id, dict(payload))
    return kind.from_wire(aggregate_id, payload)
