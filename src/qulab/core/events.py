"""Typed events and their wire form, declared once per class.

A domain event is a frozen dataclass that names its wire type, its aggregate type and the field
holding its aggregate id in the class statement::

    @dataclass(frozen=True)
    class ItemRenamed(Event, type="item.renamed", aggregate="Item", key="item_id"):
        item_id: str
        name: str

Everything else is derived from the fields. ``payload()`` is the fields by name, in declaration
order, JSON-ready (a mapping becomes a dict, a tuple a list). ``from_wire`` reads a payload back
by the field annotations (``str``, ``int``, ``float``, ``bool``, ``tuple[X, ...]``,
``Mapping[str, Any]``, and ``X | None`` of these) and is tolerant of old or partial rows: a
missing field takes the aggregate id if it is the key field, else its dataclass default, else
the neutral value of its type (``""``, ``0``, ``0.0``, ``False``, ``()``, ``{}``, ``None``).
A present value that cannot be read (``"x"`` for a float) raises ``ValueError`` or
``TypeError``; a tuple or mapping field given something else reads as empty.

Two hooks keep an existing wire form when plain fields cannot:

- ``key_in_payload=False``: the aggregate id travels only as the row's aggregate id, not in the
  payload, and is read back from there.
- a field declared ``field(init=False)`` is derived: the event computes it in
  ``__post_init__``, it is written to the wire in its place among the fields, and it is not
  read back (it is computed again).

Every declared class is registered under its wire type when it is created (a second class with
the same wire type is refused), so ``from_wire`` turns any stored or published row back into its
typed event, or into an ``OpaqueEvent`` when no class declares that type. A subclass that
declares nothing is a base for other events and is not registered. A process reads back the
types whose classes it has imported: a handler that needs typed events imports their classes.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, TypedDict

_Decode = Callable[[Any], object]


class Declaration(TypedDict, total=False):
    """The class keywords ``Event`` takes, for a domain's own base to pass on unchanged
    (``**declared: Unpack[Declaration]``)."""

    type: str
    aggregate: str
    key: str
    key_in_payload: bool


@dataclass(frozen=True)
class Event:
    """Base of every domain event; see the module docstring for how a subclass declares itself."""

    wire_type: ClassVar[str] = ""
    aggregate_type: ClassVar[str] = ""
    key_field: ClassVar[str] = ""
    key_in_payload: ClassVar[bool] = True

    def __init_subclass__(
        cls,
        *,
        type: str | None = None,
        aggregate: str | None = None,
        key: str | None = None,
        key_in_payload: bool = True,
    ) -> None:
        super().__init_subclass__()
        if type is None and aggregate is None and key is None:
            return
        if not (type and aggregate and key):
            raise TypeError(
                f"{cls.__qualname__} declares its wire form by type=, aggregate= and key=, "
                f"all three non-empty (got type={type!r}, aggregate={aggregate!r}, key={key!r})"
            )
        if key not in _field_names(cls):
            raise TypeError(f"{cls.__qualname__} names key={key!r}, which is not one of its fields")
        wire_type = str(type)
        taken = _REGISTRY.get(wire_type)
        if taken is not None:
            raise TypeError(
                f"{cls.__qualname__} declares wire type {wire_type!r}, already declared by "
                f"{taken.__module__}.{taken.__qualname__}: a wire type names one event class"
            )
        cls.wire_type = wire_type
        cls.aggregate_type = str(aggregate)
        cls.key_field = key
        cls.key_in_payload = key_in_payload
        _REGISTRY[wire_type] = cls

    @property
    def event_type(self) -> str:
        return self.wire_type

    @property
    def aggregate(self) -> str:
        return self.aggregate_type

    @property
    def aggregate_id(self) -> str:
        return str(getattr(self, _declared(type(self)).key_field))

    def payload(self) -> dict[str, Any]:
        """The JSON-ready payload written to ``domain_events`` and sent by the relay."""
        return {name: _jsonable(getattr(self, name)) for name in _codec(type(self)).written}

    @classmethod
    def from_wire(cls, aggregate_id: str, payload: Mapping[str, Any]) -> Self:
        """The event a stored or published payload describes (see the module docstring)."""
        codec = _codec(cls)
        values: dict[str, object] = {}
        for name, decode, fallback in codec.read:
            if name == cls.key_field and (name not in payload or not cls.key_in_payload):
                values[name] = aggregate_id
            elif name in payload:
                values[name] = decode(payload[name])
            else:
                values[name] = fallback()
        return cls(**values)


@dataclass(frozen=True)
class OpaqueEvent(Event):
    """An event no class declares (benchmark and test traffic, types written by other
    producers): carried on the wire as given."""

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


_REGISTRY: dict[str, type[Event]] = {}
EVENT_TYPES: Mapping[str, type[Event]] = types.MappingProxyType(_REGISTRY)
"""Every declared event class by its wire type (read-only: classes register themselves)."""


def from_wire(
    event_type: str, aggregate_type: str, aggregate_id: str, payload: Mapping[str, Any]
) -> Event:
    """The typed event for a stored or published row; an unknown type is an OpaqueEvent."""
    kind = _REGISTRY.get(event_type)
    if kind is None:
        return OpaqueEvent(event_type, aggregate_type, aggregate_id, dict(payload))
    return kind.from_wire(aggregate_id, payload)


@dataclass(frozen=True)
class _Codec:
    """One declared class's wire form: the fields written, and how each init field is read."""

    written: tuple[str, ...]
    read: tuple[tuple[str, _Decode, Callable[[], object]], ...]


def _declared(cls: type[Event]) -> type[Event]:
    if not cls.wire_type:
        raise TypeError(
            f"{cls.__qualname__} declares no wire form: declare it with type=, aggregate= and key="
        )
    return cls


_CODECS: dict[type[Event], _Codec] = {}


def _codec(cls: type[Event]) -> _Codec:
    """Built on first use, as the dataclass decorator runs after ``__init_subclass__``."""
    codec = _CODECS.get(cls)
    if codec is None:
        codec = _CODECS[cls] = _build_codec(cls)
    return codec


def _build_codec(cls: type[Event]) -> _Codec:
    _declared(cls)
    if "__dataclass_fields__" not in cls.__dict__:
        raise TypeError(f"{cls.__qualname__} is an event: declare it with @dataclass(frozen=True)")
    hints = typing.get_type_hints(cls)
    written = tuple(
        f.name for f in dataclasses.fields(cls) if f.name != cls.key_field or cls.key_in_payload
    )
    read = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        decode, neutral = _reader(hints[f.name], f"{cls.__qualname__}.{f.name}")
        read.append((f.name, decode, _fallback(f, neutral)))
    return _Codec(written, tuple(read))


def _fallback(f: dataclasses.Field[Any], neutral: object) -> Callable[[], object]:
    if f.default is not dataclasses.MISSING:
        default = f.default
        return lambda: default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory
    return lambda: neutral


def _reader(hint: Any, where: str) -> tuple[_Decode, object]:
    """How to read one annotated field from JSON, and its neutral value when it is missing."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in _SCALARS:
        return _SCALARS[hint]
    if origin in (typing.Union, types.UnionType) and type(None) in args and len(args) == 2:
        [inner] = [arg for arg in args if arg is not type(None)]
        decode, _ = _reader(inner, where)
        return (lambda value: None if value is None else decode(value)), None
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item, _ = _reader(args[0], where)
        return (lambda value: _items(value, item)), ()
    if origin in (Mapping, dict) and args == (str, Any):
        return _mapping, {}
    raise TypeError(
        f"{where}: {hint!r} has no wire form; use str, int, float, bool, tuple[X, ...], "
        "Mapping[str, Any] or one of these | None"
    )


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value


def _items(value: object, item: _Decode) -> tuple[object, ...]:
    return tuple(item(v) for v in value) if isinstance(value, list | tuple) else ()


def _mapping(value: object) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


_SCALARS: dict[object, tuple[_Decode, object]] = {
    str: (str, ""),
    int: (int, 0),
    float: (float, 0.0),
    bool: (_boolean, False),
}


def _jsonable(value: object) -> Any:
    if isinstance(value, Mapping):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [_jsonable(item) for item in value]
    return value


def _field_names(cls: type) -> set[str]:
    """Names annotated on ``cls`` or a base but not on ``Event``: its future dataclass fields
    (the decorator has not run yet when the class registers)."""
    names = {name for klass in cls.__mro__ for name in inspect.get_annotations(klass)}
    return names - set(inspect.get_annotations(Event))
