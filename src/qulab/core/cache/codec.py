"""What a cache entry holds: JSON (orjson) of a read model in a small versioned envelope.

``{"v": "<model>/<codec>/<shape>", "d": {...} | null}``. ``v`` changes whenever the read
model's fields change, so an entry written by an older (or newer) QuLab is a miss, never
misread. ``d`` is ``null`` for a cached "not found" (negative caching). Anything else is
corrupt or foreign: a miss, then overwritten.
"""

from __future__ import annotations

import hashlib
import types
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any, TypeVar, Union, get_args, get_origin

import orjson
from pydantic import BaseModel, ValidationError

CODEC_VERSION = 1

M = TypeVar("M", bound=BaseModel)


class Decoded(Enum):
    VALUE = "value"
    ABSENT = "absent"  # a cached "not found"
    INVALID = "invalid"  # corrupt, foreign, or another read-model version


@cache
def model_version(model: type[BaseModel]) -> str:
    shape = repr(sorted((name, repr(f.annotation)) for name, f in model.model_fields.items()))
    digest = hashlib.blake2s(shape.encode(), digest_size=4).hexdigest()
    return f"{model.__name__}/{CODEC_VERSION}/{digest}"


_IMMUTABLE = (str, int, float, bool, bytes, datetime, date, time, timedelta, Decimal, type(None))


@cache
def shareable(model: type[BaseModel]) -> bool:
    """Can one decoded instance be handed to every reader? Yes for a frozen model whose fields
    hold only immutable values (no dict or list a reader could change for the others)."""
    if not model.model_config.get("frozen"):
        return False
    return all(_immutable(field.annotation) for field in model.model_fields.values())


def _immutable(annotation: Any) -> bool:
    if get_origin(annotation) in (Union, types.UnionType):
        return all(_immutable(arg) for arg in get_args(annotation))
    return isinstance(annotation, type) and issubclass(annotation, _IMMUTABLE)


def encode(model: type[M], value: M | None) -> bytes:
    data = None if value is None else value.model_dump(mode="json")
    return orjson.dumps({"v": model_version(model), "d": data})


def decode(model: type[M], raw: bytes) -> tuple[Decoded, M | None]:
    try:
        envelope: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return Decoded.INVALID, None
    if not isinstance(envelope, dict) or envelope.get("v") != model_version(model):
        return Decoded.INVALID, None
    data = envelope.get("d")
    if data is None:
        return Decoded.ABSENT, None
    try:
        return Decoded.VALUE, model.model_validate(data)
    except ValidationError:
        return Decoded.INVALID, None
