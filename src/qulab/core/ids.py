"""Identifiers: new ones (random UUIDs as text) and ones given by a caller, checked."""

from __future__ import annotations

import re
import uuid

from qulab.core.errors import InvalidInput


def new_id() -> str:
    return str(uuid.uuid4())


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def validate_id(value: object, field: str = "id") -> str:
    """Return ``value`` as a canonical UUID string, or raise InvalidInput naming ``field``."""
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a UUID string")
    if _CANONICAL_UUID.fullmatch(value):
        return value  # already what str(uuid.UUID(value)) would give, at a fraction of the cost
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise InvalidInput(field, f"{value!r} is not a valid UUID") from None
